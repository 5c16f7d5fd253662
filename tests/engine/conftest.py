"""Fixtures for the engine tests: the real engine, run as ``python -m engine`` (harness.processes).

- ``engine_url`` (tests/conftest.py): one engine for the whole session (shared, may be warm).
- ``start_engine(**env)``: a fresh engine process with extra environment
  (cold start, short idle unload...), stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from harness.processes import EngineProcess, engine_running


@pytest.fixture
def start_engine() -> Iterator[Callable[..., EngineProcess]]:
    with ExitStack() as started:

        def start(**env: str) -> EngineProcess:
            return started.enter_context(engine_running("engine-test", **env))

        yield start


@pytest.fixture
def client(engine_url):
    from engine.client import EngineClient

    c = EngineClient(engine_url, timeout=120.0)
    yield c
    c.close()
