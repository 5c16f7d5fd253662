"""The workers' engine pool against real engine processes."""

import pytest

from engine.pool import EnginePool, NoEngineAvailable
from harness.processes import engine_start

pytestmark = pytest.mark.engine


@pytest.fixture
def engines():
    started = [engine_start(name) for name in ("pool-a", "pool-b")]
    yield started
    for engine in started:
        engine.stop()


def test_the_pool_prefers_the_less_busy_engine_and_leaves_out_a_failed_one(engines):
    a, b = engines
    pool = EnginePool([a.url, b.url], timeout=30)
    first = pool.pick()
    with pool.lease(first):
        assert pool.pick().url != first.url, "the engine already busy here is not picked again"
    a.stop()
    pool.mark_down(a.url)
    assert pool.pick().url == b.url
    with pytest.raises(NoEngineAvailable):
        pool.pick(avoid={b.url})


def test_a_worker_takes_turns_over_idle_engines(engines):
    """Jobs one after another on idle engines go to each in turn (before: to either by chance, so
    a worker's jobs could all land on one engine while the other stayed cold)."""
    a, b = engines
    pool = EnginePool([a.url, b.url], timeout=30)
    picked = [pool.pick().url for _ in range(6)]
    assert sorted(picked[:2]) == sorted([a.url, b.url])
    assert picked == picked[:2] * 3


def test_a_restarted_engine_is_used_again(engines):
    a, b = engines
    b.stop()
    pool = EnginePool([a.url], timeout=30)
    assert pool.pick().url == a.url
    a.stop()
    pool.mark_down(a.url)
    with pytest.raises(NoEngineAvailable):
        pool.pick()
    a.start()
    assert pool.pick().url == a.url, "a resting engine that answers again is taken back at once"


def test_the_pool_steers_away_from_an_engine_busy_with_other_workers_jobs(engines):
    from contextlib import closing

    from engine.client import EngineClient
    from tests.waiting import wait_for

    a, b = engines
    text = " ".join(["We will meet at the station at noon and take the train to the city."] * 20)
    with (
        EngineClient(b.url, timeout=60) as other_worker,
        closing(other_worker.synthesize(text, "EN-FEMALE-1-NEUTRAL")) as job,
    ):
        next(job)  # another worker's job is under way on b
        pool = EnginePool([b.url, a.url], timeout=30)
        pool.pick()  # the first pick knows nothing yet, and starts asking the engines
        wait_for(lambda: all(e.checked_at > float("-inf") for e in pool.engines), timeout=10, what="loads known")
        assert pool.pick().url == a.url, "the idle engine is chosen over the one busy with others' work"
