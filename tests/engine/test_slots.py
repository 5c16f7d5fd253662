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
