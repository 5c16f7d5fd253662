"""An ASGI wrapper that refuses request bodies over the size their route accepts, before they are
read: Django's ASGI handler reads a whole body before any middleware or view can look at it.

Each route has its own limit (`body_limit_for`): a clone upload takes a 10 MB recording, a speech
request only its text, a token request a name, a page a form. The legacy /api/v1/tts carries its
token in the body, so it cannot be authenticated before the body is read: its small limit is what
keeps a stranger from making the server buffer megabytes.

A body that declares its length is refused from its headers alone; one sent in chunks without a
length is counted as it arrives and refused as soon as it passes the limit.

The refusal is `refusal(path)`'s response: the seeds' envelope unless the wrapper is given another
(config/asgi.py gives api.middleware's, which answers OpenAI's shape under /v1/).
"""

import re
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpResponse

from core.errors import error_response

# A page's form (sign-in, share, rename, the admin): Django's own default for form data.
PAGE_BODY_MAX = 2_621_440
# A token's name (and what else a token request carries): a few hundred bytes.
TOKEN_BODY_MAX = 8 * 1024
# Multipart framing and the form's other fields around a clone's recording.
MULTIPART_OVERHEAD = 64 * 1024


def speech_body_max() -> int:
    """A speech request's JSON: the longest text, each character written at its longest (a
    surrogate pair escaped as \\uXXXX\\uXXXX is 12 bytes), and room for the other fields."""
    return max(64 * 1024, settings.TTS_MAX_TEXT_CHARS * 12 + 4 * 1024)


@cache
def _routes() -> list[tuple[re.Pattern, int]]:
    speech = speech_body_max()
    return [
        (re.compile(r"/api/v1/tts(_stream|_non_stream)?(_with_timestamps)?/?|/v1/audio/speech/?"), speech),
        (re.compile(r"/studio/sessions/[^/]+/generations"), speech),
        # The API's clone route also takes the recording as base64 in JSON (4/3 of it).
        (re.compile(r"/api/v1/voice-clones/?"), settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
        (re.compile(r"/studio/voices/new"), settings.VOICE_CLONE_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD),
        (re.compile(r"/api/v1/tokens(/.*)?|/account/tokens/.*"), TOKEN_BODY_MAX),
    ]


def body_limit_for(path: str) -> int:
    """The largest body the route at `path` accepts."""
    for pattern, limit in _routes():
        if pattern.fullmatch(path):
            return limit
    return PAGE_BODY_MAX


def too_large_response(path: str) -> HttpResponse:
    return error_response("PAYLOAD_TOO_LARGE", "The request body is too large.")


class BodySizeLimit:
    def __init__(self, app, *, refusal: Callable[[str], HttpResponse] = too_large_response) -> None:
        self.app = app
        self.refusal = refusal

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = body_limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._refuse(scope, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No declared length: read up to the limit here, then hand Django what was read.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > max_bytes:
                await self._refuse(scope, send)
                return
        body = b"".join(chunks)
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)

    async def _refuse(self, scope, send) -> None:
        response = self.refusal(scope["path"])
        body = response.content
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    *[(name, value) for name, value in headers if name not in {b"content-length", b"connection"}],
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[dict], then=None):
    queue = list(messages)

    async def receive() -> dict:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
