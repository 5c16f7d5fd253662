"""Idempotency-Key on the POSTs that generate or clone, as Stripe has it: the first request with a
key runs and its answer is kept 24 hours; a retry with the same key and the same request (method,
path and body) gets that answer again (`Idempotent-Replayed: true`) and is neither run nor charged
again; while the first still runs, 409 IDEMPOTENCY_IN_PROGRESS with Retry-After; the same key with
another request, 409 IDEMPOTENCY_CONFLICT. Keys are an account's own. A request that is refused
(nothing stored or charged) or cut off keeps no answer: its key may be used again.

A stream is kept as it was sent, whole: its replay is the same bytes at once, in the same format.

What an account keeps is bounded, so a script cannot fill the database: an answer over
IDEMPOTENCY_ANSWER_MAX_BYTES, or one that would take the account's kept answers of the last 24 h
past IDEMPOTENCY_ACCOUNT_MAX_BYTES, is sent but not kept; its key stays used (a retry is 409
IDEMPOTENCY_ANSWER_NOT_KEPT, never run or charged again). A new key past IDEMPOTENCY_ACCOUNT_MAX_KEYS
live ones is 429 until the oldest expires.

    @router.post(...)
    @idempotent
    async def view(request, payload): ...
"""

import hashlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import timedelta
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from ninja import Status
from ninja.responses import NinjaJSONEncoder

from accounts.models import User
from api.errors import ApiError
from api.models import IdempotencyKey
from core.asyncdb import db_work
from core.stream_abort import response_aborted

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)
IN_PROGRESS_RETRY_AFTER = 1
_SANE_KEY = re.compile(r"[\x20-\x7e]{1,255}")

View = Callable[..., Awaitable[Any]]


def request_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method}\n{request.path}\n".encode())
    if request.content_type != "multipart/form-data":
        digest.update(request.body)
        return digest.hexdigest()
    # A client's retry of a form has a new boundary: the request is its fields and its files.
    for name, values in sorted(request.POST.lists()):
        digest.update(json.dumps([name, values]).encode())
    for name, uploads in sorted(request.FILES.lists()):
        for upload in uploads:
            digest.update(json.dumps([name, upload.name]).encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)  # the view reads it next
    return digest.hexdigest()


def _live_keys(user_id: int) -> QuerySet[IdempotencyKey]:
    return IdempotencyKey.objects.filter(user_id=user_id, created_at__gte=timezone.now() - KEY_LIFETIME)


def _keys_count_check(user: User) -> None:
    """429 for a new key when the account holds IDEMPOTENCY_ACCOUNT_MAX_KEYS live ones."""
    live = _live_keys(user.pk)
    if live.count() < settings.IDEMPOTENCY_ACCOUNT_MAX_KEYS:
        return
    oldest = live.aggregate(oldest=Min("created_at"))["oldest"] or timezone.now()
    retry_after = max(1, int((oldest + KEY_LIFETIME - timezone.now()).total_seconds()) + 1)
    raise ApiError(
        "TTS_RATE_LIMITED",
        f"Too many Idempotency-Keys: an account may hold {settings.IDEMPOTENCY_ACCOUNT_MAX_KEYS} over 24 hours. "
        f"Retry in {retry_after} s, or send the request without a key.",
        retry_after=retry_after,
    )


def idempotency_claim(*, user: User, key: str, request_hash: str) -> tuple[IdempotencyKey, bool]:
    """The key's record and whether this request made it (and so runs). Of concurrent first
    requests one inserts; the others wait on the unique (user, key) index, then read its record."""
    IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    existing = IdempotencyKey.objects.filter(user=user, key=key).first()
    if existing is not None:
        return existing, False
    _keys_count_check(user)
    while True:
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(user=user, key=key, request_hash=request_hash), True
        except IntegrityError:
            record = IdempotencyKey.objects.filter(user=user, key=key).first()
            if record is not None:  # else the first one was released meanwhile: claim it again
                return record, False


def idempotency_complete(*, record_id: int, response: HttpResponse) -> None:
    """Keeps the answer, or only that there was one when it is over the size limits (a retry is
    then 409 IDEMPOTENCY_ANSWER_NOT_KEPT). Concurrent answers of one account may pass its limit by
    the answers completing at once, no more."""
    body = response.content
    record = IdempotencyKey.objects.filter(id=record_id).values("user_id").first()
    if record is None:
        return
    kept_bytes = _live_keys(record["user_id"]).aggregate(kept=Sum("body_size"))["kept"] or 0
    keep = (
        len(body) <= settings.IDEMPOTENCY_ANSWER_MAX_BYTES
        and kept_bytes + len(body) <= settings.IDEMPOTENCY_ACCOUNT_MAX_BYTES
    )
    if not keep:
        logger.info("Idempotency answer of %d bytes not kept (account keeps %d)", len(body), kept_bytes)
    IdempotencyKey.objects.filter(id=record_id).update(
        state=IdempotencyKey.State.DONE if keep else IdempotencyKey.State.NOT_KEPT,
        status_code=response.status_code,
        content_type=response.get("Content-Type", ""),
        body=body if keep else b"",
        body_size=len(body) if keep else 0,
    )


def idempotency_release(*, record_id: int) -> None:
    IdempotencyKey.objects.filter(id=record_id).delete()


def idempotency_keys_expire() -> int:
    """Deletes the keys older than KEY_LIFETIME (beat runs it); returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    return deleted


def _answer_again(record: IdempotencyKey, this_request: str) -> HttpResponse:
    if record.request_hash != this_request:
        raise ApiError(
            "IDEMPOTENCY_CONFLICT",
            "This Idempotency-Key was used for a different request in the last 24 hours: "
            "send a new key with a new request.",
        )
    if record.state == IdempotencyKey.State.RUNNING:
        raise ApiError(
            "IDEMPOTENCY_IN_PROGRESS",
            "The first request with this Idempotency-Key is still being answered: retry once it is done.",
            retry_after=IN_PROGRESS_RETRY_AFTER,
        )
    if record.state == IdempotencyKey.State.NOT_KEPT:
        raise ApiError(
            "IDEMPOTENCY_ANSWER_NOT_KEPT",
            "The first request with this Idempotency-Key was answered and charged, but its answer was too large "
            "to keep for a retry: find the generation in your history (GET /api/v1/generations).",
        )
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
    response[REPLAYED_HEADER] = "true"
    return response


def _rendered(result: Any) -> HttpResponseBase:
    """The view's answer as a response, so that what is kept is what was sent (ninja would render
    a Status or a dict after the view)."""
    if isinstance(result, HttpResponseBase):
        return result
    status, value = (result.status_code, result.value) if isinstance(result, Status) else (200, result)
    return HttpResponse(json.dumps(value, cls=NinjaJSONEncoder), status=status, content_type="application/json")


def _kept_when_sent(response: StreamingHttpResponse, record_id: int) -> StreamingHttpResponse:
    """The stream as it goes out; once it has all gone out (not cut off), kept whole."""
    # The generating views stream from coroutines: Django hands their content on as an async generator.
    original = cast(AsyncGenerator[bytes, None], response.streaming_content)
    kept = HttpResponse(status=response.status_code, content_type=response.get("Content-Type", ""))

    async def sent() -> AsyncIterator[bytes]:
        chunks: list[bytes] = []
        whole = False
        try:
            async with aclosing(original) as parts:
                async for part in parts:
                    chunks.append(part)
                    yield part
            whole = not response_aborted()
        finally:
            if whole:
                kept.content = b"".join(chunks)
                await db_work(idempotency_complete)(record_id=record_id, response=kept)
            else:
                await db_work(idempotency_release)(record_id=record_id)

    response.streaming_content = sent()
    return response


def idempotent(view: View | None = None, *, user_of: Callable[..., User | None] | None = None) -> Any:
    """An async ninja view that honours Idempotency-Key. The key's account is request.auth, or
    `user_of(request, **kwargs)` (sync, may read the database) for a view that authenticates
    itself (the legacy /tts, its token in the body)."""

    def decorate(view: View) -> View:
        @wraps(view)
        async def answered(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if key is None:
                return await view(request, *args, **kwargs)
            if not _SANE_KEY.fullmatch(key):
                raise ApiError("VALIDATION_ERROR", "Idempotency-Key must be 1 to 255 printable ASCII characters.")
            user = await db_work(user_of)(request, *args, **kwargs) if user_of else getattr(request, "auth", None)
            if user is None:  # not authenticated: the view refuses it
                return await view(request, *args, **kwargs)
            this_request = request_hash(request)
            record, mine = await db_work(idempotency_claim)(user=user, key=key, request_hash=this_request)
            if not mine:
                logger.info("Idempotency-Key %r of user %s seen again (%s)", key, user.pk, record.state)
                return _answer_again(record, this_request)
            try:
                response = _rendered(await view(request, *args, **kwargs))
            except BaseException:
                await db_work(idempotency_release)(record_id=record.id)
                raise
            if response.status_code >= 400:
                await db_work(idempotency_release)(record_id=record.id)
            elif isinstance(response, StreamingHttpResponse):
                return _kept_when_sent(response, record.id)
            elif isinstance(response, HttpResponse):
                await db_work(idempotency_complete)(record_id=record.id, response=response)
            return response

        return answered

    return decorate(view) if view is not None else decorate
