"""Starting the stack's real processes (engine, worker, web) for tests and benchmarks: the one
`free_port`, `running_process` and the commands the Procfile runs."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LoggedProcess(subprocess.Popen[bytes]):
    """A process whose output goes to a file (`.log_path`)."""

    log_path: Path


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_process(
    name: str,
    command: list[str],
    *,
    env: dict[str, str],
    ready_url: str | None = None,
    ready_log: str | None = None,
    timeout: float = 60.0,
) -> Iterator[LoggedProcess]:
    """Runs a command until the block ends; waits until `ready_url` answers 200 or `ready_log` shows in
    its output. Yields the process (its log's path as `.log_path`), whose log is printed if it dies
    or never gets ready."""
    log_path = Path(tempfile.mkstemp(prefix=f"outeai-{name}-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = LoggedProcess(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = log_path
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{_tail(log_path)}")
            if ready_url and _answers(ready_url):
                break
            if ready_log and ready_log in log_path.read_text(errors="replace"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready after {timeout:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stack_env(**overrides: str) -> dict[str, str]:
    """The environment of a process the tests start: pytest's own (whose test settings have already
    put aside the developer's services, config/settings/test.py), marked as a test stack's, so
    that the services given here are kept."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "OUTEAI_TEST_STACK": "1",
    }
    env.update(overrides)
    return env


def engine_command(port: int) -> list[str]:
    return [str(BIN / "python"), "-m", "engine", "--host", "127.0.0.1", "--port", str(port)]


def worker_command(queue: str, concurrency: int = 3) -> list[str]:
    """A Celery worker as the Procfile runs it (the job's state is in the rows: no worker events,
    no start-up sync with other workers)."""
    return [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--queues={queue}",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
    ]


def beat_command(queue: str) -> list[str]:
    """Celery beat as the Procfile runs it, a process of its own: the sweeps (every 10 and 30 s) that
    give back the jobs of a worker that died, sent to the queue the environment names."""
    schedule = f"{tempfile.gettempdir()}/outeai-beat-{queue}-{uuid.uuid4().hex}"
    return [str(BIN / "celery"), "-A", "config", "beat", "--loglevel=INFO", f"--schedule={schedule}"]


def fitter_command(queue: str) -> list[str]:
    """The fitter as the Procfile runs it: one fit at a time, at a lower CPU priority, on the fit
    queue only (`queue`, the stack's VOICE_FIT_QUEUE)."""
    return ["nice", "-n", "10", *worker_command(queue, 1), "--hostname", f"fitter-{uuid.uuid4().hex[:8]}@%h"]


def web_command(port: int) -> list[str]:
    return [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # As the Procfile: the Studio's socket only pushes, so a client's frame stays small.
        "--ws-max-size",
        "4096",
        "--no-access-log",
    ]


class RestartableProcess:
    """A process the tests may stop and start again on the same address (fault tests)."""

    process: LoggedProcess

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], ready_url: str) -> None:
        self.name, self.command, self.env, self.ready_url = name, command, env, ready_url
        self._context: AbstractContextManager[LoggedProcess] | None = None

    def start(self) -> None:
        self._context = running_process(self.name, self.command, env=self.env, ready_url=self.ready_url)
        self.process = self._context.__enter__()

    def stop(self) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(None, None, None)

    def kill(self) -> None:
        """Dies at once, as a machine that loses power: no request in flight is finished."""
        if self._context is not None:
            self.process.kill()
            self.stop()


class EngineProcess(RestartableProcess):
    """A real engine on a free port of its own (`.url`), with `env` added to the tests' environment."""

    def __init__(self, name: str, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(name, engine_command(port), env=stack_env(**env), ready_url=f"{self.url}/health")

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=5.0).json()
        return answer


def engine_start(name: str, **env: str) -> EngineProcess:
    """An engine started and answering /health; the caller stops it (`.stop()`)."""
    engine = EngineProcess(name, **env)
    engine.start()
    return engine


@contextmanager
def engine_running(name: str, **env: str) -> Iterator[EngineProcess]:
    """A real engine (`.url`), which a test may stop and start again on its port; stopped after the block."""
    engine = engine_start(name, **env)
    try:
        yield engine
    finally:
        engine.stop()
