"""A running generation's audio, relayed from the worker to the API's streams through Redis.

The worker appends to a Redis stream per generation (progress, audio, end); an API request reads
it from the start, so it never misses what came before it began reading. The stream expires soon
after the generation ends. A cancel flag goes the other way: a caller that left asks the worker
to stop.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.conf import settings
from redis.client import Pipeline

from core.redis import redis_async_client, redis_client

# Kept after the end for late readers (a request that was still being set up).
STREAM_TTL_SECONDS = 120
# Kept while a job runs, so a worker taking it over can read back what was made.
RESUME_TTL_SECONDS = 3600
CANCEL_TTL_SECONDS = 3600


def _stream_key(generation_id: uuid.UUID | str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:generation:{generation_id}:relay"


def _cancel_key(generation_id: uuid.UUID | str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:generation:{generation_id}:cancel"


@dataclass(frozen=True)
class RelayEvent:
    kind: str  # "progress", "audio" or "end"
    data: dict  # audio's: {"words": [...]}, the words of the chunks it completes
    pcm: bytes = b""


class RelayWriter:
    """The worker's side. Every generation is relayed, the Studio's too: if a worker dies, the one
    that takes the job over reads back the audio made so far (`audio_so_far`) and goes on."""

    def __init__(self, generation_id: uuid.UUID) -> None:
        self.key = _stream_key(generation_id)
        self.cancel_key = _cancel_key(generation_id)

    def audio(self, pcm: bytes, *, chunks_done: int = 0, words: list[dict] | None = None) -> None:
        """Relays whole chunks' audio; `chunks_done` is how many chunks are whole with it, `words`
        those chunks' words (Generation.words' items), in the same entry: a reader has a chunk's
        words the moment it has the chunk's audio, and never one without the other."""
        pipe = redis_client().pipeline(transaction=False)
        self._audio_add(pipe, pcm, chunks_done=chunks_done, words=words)
        pipe.execute()

    def chunk(self, progress: dict, *, pcm: bytes = b"", chunks_done: int = 0, words: list[dict] | None = None) -> bool:
        """A chunk's turn in one round trip: the audio it completes (as `audio`, if any), then the
        job's progress, and whether a stop was asked for (returned)."""
        pipe = redis_client().pipeline(transaction=False)
        if pcm:
            self._audio_add(pipe, pcm, chunks_done=chunks_done, words=words)
        pipe.xadd(self.key, {"kind": "progress", "data": json.dumps(progress)})
        pipe.exists(self.cancel_key)
        return bool(pipe.execute()[-1])

    def _audio_add(self, pipe: Pipeline, pcm: bytes, *, chunks_done: int, words: list[dict] | None) -> None:
        entry = {"kind": "audio", "pcm": pcm, "chunks_done": chunks_done, "words": json.dumps(words or [])}
        pipe.xadd(self.key, entry)  # type: ignore[arg-type]  # redis-py's dict type is invariant
        # A job whose worker died leaves no end record; its stream goes in time all the same.
        pipe.expire(self.key, RESUME_TTL_SECONDS)

    def end(self, data: dict) -> None:
        pipe = redis_client().pipeline()
        pipe.xadd(self.key, {"kind": "end", "data": json.dumps(data)})
        pipe.expire(self.key, STREAM_TTL_SECONDS)
        pipe.execute()

    def audio_so_far(self) -> tuple[bytes, int]:
        """The audio relayed before and how many chunks it makes whole (none, if it expired). The
        two come from one record each time, so a job resumed from them never repeats a chunk."""
        records: list[tuple[bytes, dict[bytes, bytes]]] = redis_client().xrange(self.key)  # type: ignore[assignment]
        entries = [fields for _, fields in records if fields[b"kind"] == b"audio"]
        pcm = b"".join(fields[b"pcm"] for fields in entries)
        return pcm, int(entries[-1][b"chunks_done"]) if entries else 0


def relay_cancel_request(generation_id: uuid.UUID) -> None:
    redis_client().set(_cancel_key(generation_id), 1, ex=CANCEL_TTL_SECONDS)


async def relay_read(generation_id: uuid.UUID, *, timeout_seconds: float) -> AsyncIterator[RelayEvent]:
    """Every event of the generation from its start, as they come, up to and including "end".
    Raises TimeoutError if nothing arrives for `timeout_seconds`."""
    client = redis_async_client(socket_timeout=timeout_seconds + 10)
    key, last_id = _stream_key(generation_id), "0-0"
    try:
        while True:
            answer: list[tuple[bytes, list[tuple[str, dict[bytes, bytes]]]]] = await client.xread(  # type: ignore[assignment]
                {key: last_id}, block=int(timeout_seconds * 1000), count=64
            )
            # A cancel (the caller went away) that lands inside redis-py's blocking read is at
            # times swallowed there (about one run in three of the leave test in tests/test_api_stack.py),
            # and the request would relay a job nobody hears to its end. The task still counts it.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            if not answer:
                raise TimeoutError(f"no word from generation {generation_id} in {timeout_seconds:.0f} s")
            for entry_id, fields in answer[0][1]:
                last_id = entry_id
                kind = fields[b"kind"].decode()
                if kind == "audio":
                    yield RelayEvent(kind, {"words": json.loads(fields.get(b"words", b"[]"))}, fields[b"pcm"])
                else:
                    yield RelayEvent(kind, json.loads(fields[b"data"]))
                    if kind == "end":
                        return
    finally:
        await client.aclose()
