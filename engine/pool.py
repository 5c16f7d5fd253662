"""Several engines behind one worker: choose by health and load, take a failed one out for a while.

Each worker process keeps one pool. It counts the syntheses it has running on each engine, and
asks each engine's /health (at most once a second, in the background) how busy it is from
everyone's requests; it picks, among the engines that speak the job's voice (each /health lists
its voices and the kinds of speaker profile it speaks), the one with the least work. An engine that
fails is left out for `down_seconds`, then tried again. The web keeps a pool too, only to answer
/api/v1/health from what it last heard (`health`), so no request there ever waits on an engine.
"""

import random
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from engine.client import EngineClient, EngineFailure
from engine.profiles import DEFAULT_PROFILE_KINDS, voice_key

HEALTH_CACHE_SECONDS = 1.0


@dataclass
class _Engine:
    url: str
    client: EngineClient
    running_here: int = 0
    reported_load: int = 0
    checked_at: float = field(default=float("-inf"))
    down_until: float = field(default=float("-inf"))
    # Its last answer to /health; None until it answers, and once it fails.
    health: dict | None = None
    # When this process last sent it work: between equals, the one sent work longest ago goes
    # next. It starts at a random point, so processes starting together do not all begin with the
    # first engine listed.
    picked_at: float = field(default_factory=lambda: -random.random())

    def speaks(self, voice: str | None, profile: dict | bool | None) -> bool:
        """Whether it has the job's voice (a built-in's name, or a speaker profile of some kind;
        ``profile=True``: it makes profiles of any kind), as far as this process knows: an engine
        not heard from yet, or too old to say, is given the benefit of the doubt (it refuses an
        unknown voice itself)."""
        if self.health is None:
            return True
        if profile is not None and profile is not False:
            kinds = self.profile_kinds()
            if profile is True:
                return bool(kinds)
            kind = profile.get("kind", "world") if isinstance(profile, dict) else "world"
            return kind in kinds
        names = self.health.get("voices")
        if voice is None or names is None:
            return True
        return voice_key(voice) in {voice_key(name) for name in names}

    def profile_kinds(self) -> list[str]:
        """The kinds of speaker profile it speaks and makes, as far as this process knows."""
        kinds = (self.health or {}).get("profiles", ["world"])
        if isinstance(kinds, bool):  # an engine from before profile kinds: WORLD profiles or none
            kinds = ["world"] if kinds else []
        return list(kinds)


class NoEngineAvailable(EngineFailure):
    pass


class EnginePool:
    def __init__(self, urls: list[str], *, timeout: float, down_seconds: float = 10.0) -> None:
        if not urls:
            raise ValueError("an engine pool needs at least one engine URL")
        self.engines = [_Engine(url, EngineClient(url, timeout=timeout)) for url in urls]
        self.down_seconds = down_seconds
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._heard = threading.Event()  # a first round of /health has been asked

    def pick(
        self, *, avoid: Collection[str] = frozenset(), voice: str | None = None, profile: dict | bool | None = None
    ) -> _Engine:
        """The up engine with the least work among those that speak `voice` (a built-in voice's
        name) or `profile` (a speaker profile: an engine that speaks its kind; True: one that
        makes profiles, for /speakers/encode); never one in `avoid` (those that failed this job).
        The engines' loads are refreshed in the background, so a pick never waits on the network;
        with one engine there is nothing to choose and nothing to ask."""
        now = time.monotonic()
        candidates = [e for e in self.engines if e.url not in avoid and e.down_until <= now]
        if len(candidates) > 1:
            for engine in candidates:
                if engine.checked_at == float("-inf"):  # never asked: this once, wait for the answer
                    self._refresh(engine, now)
            self._refresh_in_background(candidates, now)
            candidates = [e for e in candidates if e.down_until <= now]
        candidates = [e for e in candidates if e.speaks(voice, profile)]
        if not candidates:
            # Every engine left that speaks it is resting after a failure: ask them again rather
            # than refuse work, as one may be back already (a restart).
            resting = [e for e in self.engines if e.url not in avoid]
            candidates = [e for e in resting if self._answers(e) and e.speaks(voice, profile)]
        if not candidates:
            raise NoEngineAvailable("no speech engine is available" + (f" for {voice}" if voice else ""))
        if profile is True:  # making a clone: an engine that makes the default kind of profile

            def rank(engine: _Engine) -> list[bool]:
                return [kind in engine.profile_kinds() for kind in DEFAULT_PROFILE_KINDS]

            best = max(rank(e) for e in candidates)
            candidates = [e for e in candidates if rank(e) == best]
        # Between equals, the engine this process sent work to longest ago: a worker's jobs take
        # turns over idle engines instead of landing on one by chance.
        chosen = min(candidates, key=lambda e: (e.running_here + e.reported_load, e.running_here, e.picked_at))
        chosen.picked_at = time.monotonic()
        return chosen

    def _refresh_in_background(self, engines: list[_Engine], now: float) -> None:
        stale = [e for e in engines if now - e.checked_at >= HEALTH_CACHE_SECONDS]
        if not stale or self._refreshing.locked():
            return

        def refresh() -> None:
            try:
                with self._refreshing:
                    for engine in stale:
                        self._refresh(engine, time.monotonic())
            finally:
                self._heard.set()

        threading.Thread(target=refresh, name="engine-pool-health", daemon=True).start()

    def _refresh(self, engine: _Engine, now: float) -> None:
        if now - engine.checked_at < HEALTH_CACHE_SECONDS:
            return
        engine.checked_at = now
        try:
            health = engine.client.health()
        except EngineFailure:
            engine.health = None
            self.mark_down(engine.url)
            return
        engine.health = health
        # What the engine runs and queues for everyone, less what this process already counts.
        busy = int(health.get("requests", int(health.get("active", 0)) + int(health.get("waiting", 0))))
        engine.reported_load = max(0, busy - engine.running_here)
        engine.down_until = float("-inf")  # it answers: it is back

    def health(self, *, wait: float = 0.0) -> list[dict | None]:
        """Each engine's last answer to /health (None: down, or not heard from), never waiting on
        the network: those asked more than HEALTH_CACHE_SECONDS ago are asked again in the
        background, once for every caller. A pool just made waits up to `wait` for its first round."""
        self._refresh_in_background(self.engines, time.monotonic())
        if wait:
            self._heard.wait(wait)
        return [engine.health for engine in self.engines]

    def _answers(self, engine: _Engine) -> bool:
        engine.checked_at = float("-inf")
        self._refresh(engine, time.monotonic())
        return engine.down_until <= time.monotonic()

    def mark_down(self, url: str) -> None:
        for engine in self.engines:
            if engine.url == url:
                engine.down_until = time.monotonic() + self.down_seconds

    @contextmanager
    def lease(self, engine: _Engine) -> Iterator[EngineClient]:
        with self._lock:
            engine.running_here += 1
        try:
            yield engine.client
        finally:
            with self._lock:
                engine.running_here -= 1
