"""The engine's synthesis places, shared fairly between callers.

A request takes a place for each chunk it speaks, not for the whole text, so a long text cannot
keep others out for its whole length. When a place frees, it goes to the waiting caller ("tenant":
an account, as the worker says) that holds the fewest places, then to the one served longest ago
(a newcomer first), then to the earliest: one account's many requests cannot crowd out another's
single one, and a lone account still gets every place.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# Tenants served longer ago than this many others are forgotten (and count as newcomers again).
MAX_TENANTS_REMEMBERED = 1024


@dataclass
class _Waiter:
    order: int
    tenant: str = field(compare=False)
    granted: asyncio.Future = field(compare=False)


class FairSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held: Counter[str] = Counter()
        self._waiters: list[_Waiter] = []
        self._order = itertools.count()
        self._served: OrderedDict[str, int] = OrderedDict()  # tenant -> when last given a place

    @property
    def active(self) -> int:
        return sum(self.held.values())

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def slot(self, tenant: str):
        await self._acquire(tenant)
        try:
            yield
        finally:
            self._release(tenant)

    async def _acquire(self, tenant: str) -> None:
        if self.active < self.capacity and not self._waiters:
            self._grant(tenant)
            return
        waiter = _Waiter(next(self._order), tenant, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.granted.done() and not waiter.granted.cancelled():
                self._release(tenant)  # granted just as it was cancelled: pass the place on
            raise

    def _release(self, tenant: str) -> None:
        self.held[tenant] -= 1
        if not self.held[tenant]:
            del self.held[tenant]
        while self._waiters and self.active < self.capacity:
            waiter = min(self._waiters, key=lambda w: (self.held[w.tenant], self._served.get(w.tenant, -1), w.order))
            self._waiters.remove(waiter)
            if waiter.granted.done():  # cancelled while waiting
                continue
            self._grant(waiter.tenant)
            waiter.granted.set_result(None)

    def _grant(self, tenant: str) -> None:
        self.held[tenant] += 1
        self._served[tenant] = next(self._order)
        self._served.move_to_end(tenant)
        if len(self._served) > MAX_TENANTS_REMEMBERED:
            self._served.popitem(last=False)
