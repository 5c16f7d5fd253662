"""Fixtures for the engine tests: the real engine, run as ``python -m engine``.

- ``engine_url``: one engine for the whole session (shared, may be warm).
- ``start_engine(**env)``: a fresh engine process with extra environment
  (cold start, short idle unload...), stopped at the end of the test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STARTUP_TIMEOUT = 60.0


def pytest_configure(config):
    config.addinivalue_line("markers", "engine: tests of the TTS engine service (starts real engine processes)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineProcess:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="engine-test-", suffix=".log", delete=False)  # noqa: SIM115
        full_env = dict(os.environ)
        full_env.update({k: str(v) for k, v in (env or {}).items()})
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=str(ROOT),
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"engine exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"engine did not answer /health within {STARTUP_TIMEOUT}s:\n{self.output()}")

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=5.0).json()

    def output(self) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        with contextlib.suppress(OSError):
            Path(self.log.name).unlink()


@pytest.fixture(scope="session")
def engine_process():
    proc = EngineProcess()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def engine_url(engine_process) -> str:
    return engine_process.url


@pytest.fixture
def start_engine():
    started: list[EngineProcess] = []

    def _start(**env) -> EngineProcess:
        p = EngineProcess(env)
        started.append(p)
        return p

    yield _start
    for p in started:
        p.stop()


@pytest.fixture
def client(engine_url):
    from engine.client import EngineClient

    c = EngineClient(engine_url, timeout=120.0)
    yield c
    c.close()
