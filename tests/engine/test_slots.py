"""The engine's fair places (engine/slots.py), driven directly: who gets a place when one frees."""

import asyncio

from engine.slots import FairSlots


async def _taken_in_order(slots: FairSlots, arrivals: list[str]) -> list[str]:
    """`arrivals` ask one after another while every place is held; returns who got a place, in
    the order they got it (each keeps it for a moment, then lets go)."""
    order: list[str] = []
    blocker = asyncio.Event()

    async def hold_first() -> None:
        async with slots.slot("account:1"):
            await blocker.wait()

    async def ask(tenant: str) -> None:
        async with slots.slot(tenant):
            order.append(tenant)
            await asyncio.sleep(0)

    first = asyncio.create_task(hold_first())
    await asyncio.sleep(0)
    waiting = []
    for tenant in arrivals:
        waiting.append(asyncio.create_task(ask(tenant)))
        await asyncio.sleep(0)
    blocker.set()
    await asyncio.gather(first, *waiting)
    return order


def test_a_newcomer_goes_before_the_busy_accounts_next_chunk():
    slots = FairSlots(1)
    order = asyncio.run(_taken_in_order(slots, ["account:1", "account:1", "account:2"]))
    assert order[0] == "account:2", order


def test_accounts_alternate_and_a_lone_account_fills_every_place():
    slots = FairSlots(1)
    order = asyncio.run(_taken_in_order(slots, ["account:1", "account:1", "account:2", "account:2"]))
    assert order == ["account:2", "account:1", "account:2", "account:1"]

    two = FairSlots(2)

    async def lone() -> int:
        async with two.slot("account:3"), two.slot("account:3"):
            return two.active

    assert asyncio.run(lone()) == 2


def test_a_request_cancelled_while_waiting_leaves_no_place_taken():
    slots = FairSlots(1)

    async def scenario() -> tuple[int, int]:
        release = asyncio.Event()

        async def hold() -> None:
            async with slots.slot("a"):
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(slots.slot("b").__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        release.set()
        await holder
        return slots.active, slots.waiting

    assert asyncio.run(scenario()) == (0, 0)


# --- pre-emption: a newcomer's first chunk stops a flood's running model call ---------------


class _Model:
    """A stand-in ONNX session: ``run`` works until released, stops as ONNX Runtime does when its
    RunOptions' ``terminate`` is set, and counts its calls."""

    def __init__(self) -> None:
        import threading

        self.calls: list[str] = []
        self.release = threading.Event()

    def run(self, output_names, feeds, options=None):
        import time

        self.calls.append(feeds["who"])
        while not self.release.is_set():
            if options is not None and options.terminate:
                raise RuntimeError("Exiting due to terminate flag being set to true.")
            time.sleep(0.001)
        return [feeds["who"]]


async def _chunk(slots: FairSlots, model: _Model, tenant: str, who: str, order: list[str], *, first: bool = False):
    from engine.slots import model_run

    async with slots.slot(tenant, first=first):
        result = await asyncio.to_thread(model_run, model, None, {"who": who})
        order.append(result[0])


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_a_newcomers_first_chunk_preempts_a_flood_and_the_stopped_chunk_runs_again_once():
    async def scenario() -> tuple[list[str], list[str], int]:
        slots, flood, new = FairSlots(1), _Model(), _Model()
        order: list[str] = []
        running = asyncio.create_task(_chunk(slots, flood, "account:1", "flood-1", order))
        await _until(lambda: flood.calls)
        queued = asyncio.create_task(_chunk(slots, flood, "account:1", "flood-2", order))
        await asyncio.sleep(0)
        new.release.set()  # the newcomer's chunk ends as soon as it runs
        newcomer = asyncio.create_task(_chunk(slots, new, "account:2", "new", order, first=True))
        await newcomer  # it ran while the flood's chunk was still under way
        flood.release.set()
        await asyncio.gather(running, queued)
        return order, flood.calls, slots.active

    order, flood_calls, active = asyncio.run(scenario())
    assert order == ["new", "flood-1", "flood-2"]
    # The stopped call ran again from its start; its result came out once.
    assert flood_calls == ["flood-1", "flood-1", "flood-2"]
    assert active == 0


def test_no_preemption_for_a_later_chunk_a_lone_request_or_a_chunk_stopped_once():
    async def scenario(*, first: bool, flood_requests: int, newcomers: int) -> list[str]:
        slots, flood, new = FairSlots(1), _Model(), _Model()
        order: list[str] = []
        new.release.set()
        tasks = [asyncio.create_task(_chunk(slots, flood, "account:1", "flood-1", order))]
        await _until(lambda: flood.calls)
        if flood_requests > 1:
            tasks.append(asyncio.create_task(_chunk(slots, flood, "account:1", "flood-2", order)))
        for n in range(newcomers):
            newcomer = _chunk(slots, new, f"account:{n + 2}", f"new-{n + 2}", order, first=first)
            tasks.append(asyncio.create_task(newcomer))
            await _until(lambda: len(flood.calls) > 1 or slots.waiting >= len(tasks) - 1)
            await asyncio.sleep(0.02)
        flood.release.set()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario(first=False, flood_requests=2, newcomers=1))[0] == "flood-1"
    assert asyncio.run(scenario(first=True, flood_requests=1, newcomers=1))[0] == "flood-1"
    # The second newcomer finds the stopped chunk's turn pre-empted once already: it waits.
    assert asyncio.run(scenario(first=True, flood_requests=2, newcomers=2))[:2] == ["new-2", "flood-1"]
