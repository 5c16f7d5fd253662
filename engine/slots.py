"""The engine's synthesis places, shared fairly between callers.

A request takes a place for each chunk it speaks, not for the whole text, so a long text cannot
keep others out for its whole length. When a place frees, it goes to the waiting caller ("tenant":
an account, as the worker says) that holds the fewest places, then to the one served longest ago
(a newcomer first), then to the earliest: one account's many requests cannot crowd out another's
single one, and a lone account still gets every place.

Pre-emption: a request's first chunk is what its listener waits for, and waiting for the running
chunk to end can take a whole sentence. So when a tenant holding no place asks for one for a
request's first chunk (``first``) and every place is held, a place held by a tenant with more of
its requests under way (holding another place or waiting for one) is taken back mid-chunk: the
model call under way in it is stopped (ONNX Runtime's ``RunOptions.terminate``, through
``model_run``), the newcomer gets the place, and the stopped chunk's thread waits until the place
comes back, then runs the stopped model call again from its start, so its audio comes out whole
and once. A chunk's turn is pre-empted at most once and gets its place back before anyone waiting:
nothing starves.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# Tenants served longer ago than this many others are forgotten (and count as newcomers again).
MAX_TENANTS_REMEMBERED = 1024


@dataclass
class _Waiter:
    order: int
    tenant: str = field(compare=False)
    granted: asyncio.Future = field(compare=False)
    preempts: Turn | None = field(default=None, compare=False)  # the turn stopped for it


class Turn:
    """One holding of a place (a chunk's turn), as the thread synthesising in it sees it: the
    model call under way can be stopped once, and then waits for the place to come back."""

    def __init__(self, slots: FairSlots, tenant: str, loop: asyncio.AbstractEventLoop) -> None:
        self.tenant = tenant
        self.preempted = False  # its place was asked back once: never again
        self._slots, self._loop = slots, loop
        self._lock = threading.Lock()  # between the loop (stop) and the synthesis thread (run)
        self._options: Any = None  # the model call under way's RunOptions, while one runs
        self._stopping = False
        self._resumed = threading.Event()

    def stop(self) -> bool:
        """Stops the model call under way (on the loop); False if none is, or it was stopped once."""
        with self._lock:
            if self.preempted or self._options is None:
                return False
            self.preempted = self._stopping = True
            self._options.terminate = True
            return True

    def run(self, call: Callable[[Any], Any]) -> Any:
        """``call(run_options)`` (in the synthesis thread); stopped, it hands the place over, waits
        for it back and calls again from the start."""
        import onnxruntime

        while True:
            options = onnxruntime.RunOptions()
            with self._lock:
                if not self.preempted:
                    self._options = options
            try:
                return call(options)
            except Exception:
                with self._lock:
                    stopped, self._stopping = self._stopping, False
                if not stopped:
                    raise
                self._resumed.clear()
                self._loop.call_soon_threadsafe(self._slots._yielded, self)
                self._resumed.wait()
            finally:
                with self._lock:
                    self._options = None
                    self._stopping = False  # a stop that came as the call ended: it simply ended

    def _resume(self) -> None:
        self._resumed.set()


# The turn the current task (and the synthesis thread it starts, which copies its context) holds.
CURRENT_TURN: ContextVar[Turn | None] = ContextVar("engine_slot_turn", default=None)


def model_run(session: Any, output_names: Any, feeds: dict) -> Any:
    """``session.run(output_names, feeds)``, stoppable by pre-emption when it runs in a place's turn."""
    turn = CURRENT_TURN.get()
    if turn is None:
        return session.run(output_names, feeds)
    return turn.run(lambda options: session.run(output_names, feeds, options))


class PreemptibleSession:
    """An ONNX Runtime session whose ``run`` goes through ``model_run`` (for code that calls
    ``session.run`` itself, as Piper's ``PiperVoice`` does)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, output_names: Any, input_feed: dict, run_options: Any = None) -> Any:
        if run_options is not None:
            return self.session.run(output_names, input_feed, run_options)
        return model_run(self.session, output_names, input_feed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class FairSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held: Counter[str] = Counter()
        self._waiters: list[_Waiter] = []
        self._order = itertools.count()
        self._served: OrderedDict[str, int] = OrderedDict()  # tenant -> when last given a place
        self._turns: list[Turn] = []  # the places' turns, stopped ones too
        self._parked: list[Turn] = []  # stopped turns waiting for their place back

    @property
    def active(self) -> int:
        return sum(self.held.values())

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def slot(self, tenant: str, *, first: bool = False):
        """A place for ``tenant`` (``first``: for a request's first chunk, which may pre-empt)."""
        await self._acquire(tenant, first)
        turn = Turn(self, tenant, asyncio.get_running_loop())
        self._turns.append(turn)
        token = CURRENT_TURN.set(turn)
        try:
            yield
        finally:
            try:
                CURRENT_TURN.reset(token)
            except ValueError:  # left in another context (a generator closed elsewhere)
                CURRENT_TURN.set(None)
            self._turns.remove(turn)
            self._release(tenant)

    async def _acquire(self, tenant: str, first: bool = False) -> None:
        if self.active < self.capacity and not self._waiters and not self._parked:
            self._grant(tenant)
            return
        waiter = _Waiter(next(self._order), tenant, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        if first and not self.held[tenant]:
            waiter.preempts = self._preempt()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.granted.done() and not waiter.granted.cancelled():
                self._release(tenant)  # granted just as it was cancelled: pass the place on
            raise

    def _preempt(self) -> Turn | None:
        """Stops a running turn of a tenant with more requests under way (the one holding most
        places), if one is in a model call and was not stopped before."""
        waiting = Counter(w.tenant for w in self._waiters)
        busy = [t for t in self._turns if self.held[t.tenant] + waiting[t.tenant] > 1 and not t.preempted]
        for turn in sorted(busy, key=lambda t: -self.held[t.tenant]):
            if turn.stop():
                return turn
        return None

    def _yielded(self, turn: Turn) -> None:
        """A stopped turn gave its place up (on the loop): to the waiter it was stopped for."""
        self._take_back(turn.tenant)
        self._parked.append(turn)
        waiter = next((w for w in self._waiters if w.preempts is turn and not w.granted.done()), None)
        if waiter is not None:
            self._waiters.remove(waiter)
            self._grant(waiter.tenant)
            waiter.granted.set_result(None)
        self._dispatch()

    def _release(self, tenant: str) -> None:
        self._take_back(tenant)
        self._dispatch()

    def _take_back(self, tenant: str) -> None:
        self.held[tenant] -= 1
        if not self.held[tenant]:
            del self.held[tenant]

    def _dispatch(self) -> None:
        """Free places to stopped turns first (they go on where they stopped), then to waiters."""
        while self._parked and self.active < self.capacity:
            turn = self._parked.pop(0)
            self.held[turn.tenant] += 1
            turn._resume()
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
