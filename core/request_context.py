"""The request being answered, for code far from the view: its X-Request-Id (put in every log
record of the request by RequestIdLogFilter) and headers the lower layers add to its response
(the rate limit's window). Set by RequestContextMiddleware, the first in MIDDLEWARE."""

import logging
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.core.signals import request_finished
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from core.middleware import AroundResponse

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's id is kept when it is sane: printable ASCII, at most 128 characters.
_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass
class RequestContext:
    request_id: str
    # Mutable and shared: code run in a thread of its own (sync_to_async copies the context) adds
    # to the same dict the middleware reads.
    response_headers: dict[str, str] = field(default_factory=dict)


_current: ContextVar[RequestContext | None] = ContextVar("outeai_request", default=None)


def request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None


def response_headers_add(headers: dict[str, str]) -> None:
    """Headers for the response of the request being answered (none outside a request)."""
    context = _current.get()
    if context is not None:
        context.response_headers.update(headers)


def request_id_from(value: str | None) -> str:
    return value if value is not None and _SANE_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class RequestIdLogFilter(logging.Filter):
    """Gives every record `request_id`: the request's, or "-" outside one (a task, the startup)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() or "-"
        return True


class RequestContextMiddleware(AroundResponse):
    def before(self, request: HttpRequest) -> None:
        # Not reset at the end: under ASGI the request runs in a task of its own, whose streaming
        # body (logged with the same id) is sent after the middleware returns.
        _current.set(RequestContext(request_id=request_id_from(request.headers.get(REQUEST_ID_HEADER))))

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        context = _current.get()
        if context is not None:
            response[REQUEST_ID_HEADER] = context.request_id
            for name, value in context.response_headers.items():
                if name not in response:
                    response[name] = value
        return response


def _request_over(**kwargs: object) -> None:
    # Not at the middleware's return: Django logs a 4xx or 5xx after it, and a stream goes on.
    _current.set(None)


request_finished.connect(_request_over, dispatch_uid="core.request_context")
