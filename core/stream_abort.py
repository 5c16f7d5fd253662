"""Ending a streamed response as broken rather than finished.

A stream that fails after its first byte cannot change its status any more; if it simply ended,
its final (zero-length) chunk would tell the client the file is whole. Instead the streaming
iterator calls `response_abort(reason)` and returns: this ASGI wrapper then withholds the final
body message, so the server (uvicorn) closes the connection without the terminating chunk, and
every HTTP client (httpx: RemoteProtocolError, both SDKs: OuteAIError) sees a transfer cut off.
Django's handler still runs its own end of the request (the iterator closed, `request_finished`).
"""

import logging
from contextvars import ContextVar

logger = logging.getLogger(__name__)


class _Abort:
    reason: str | None = None


# The request's own state, set by the wrapper; the streaming iterator runs in a task Django
# starts from the request's context, so it sees (and fills) the same object.
_current: ContextVar[_Abort | None] = ContextVar("outeai_stream_abort", default=None)


class StreamAborted(Exception):
    """Raised by `response_abort` when no StreamAbort wrapper serves the request: the exception
    then cuts the transfer off all the same (the server logs it as an error)."""


def response_abort(reason: str) -> None:
    """From a streaming response's iterator: end the transfer without its final chunk."""
    state = _current.get()
    if state is None:
        raise StreamAborted(reason)
    state.reason = reason


class StreamAbort:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _Abort()
        # Not reset afterwards: uvicorn's note about the unfinished response is logged in this
        # same context after we return, and the filter below reads it there.
        _current.set(state)

        async def guarded_send(message: dict) -> None:
            if state.reason is not None and message["type"] == "http.response.body" and not message.get("more_body"):
                if message.get("body"):
                    await send({**message, "more_body": True})
                return  # the last message is withheld: the transfer stays unfinished
            await send(message)

        await self.app(scope, receive, guarded_send)
        if state.reason is not None:
            logger.warning("%s %s: stream aborted after it began: %s", scope["method"], scope["path"], state.reason)


class AbortedStreamNoteFilter(logging.Filter):
    """uvicorn logs "ASGI callable returned without completing response." as an error when a
    response is left unfinished; for a deliberate abort the warning above already says why."""

    def filter(self, record: logging.LogRecord) -> bool:
        state = _current.get()
        aborted = state is not None and state.reason is not None
        return not (aborted and "without completing response" in record.getMessage())


def response_aborted() -> bool:
    """Whether the streaming response being sent was cut off by `response_abort`."""
    state = _current.get()
    return state is not None and state.reason is not None
