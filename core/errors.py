"""The one application error, its codes' HTTP statuses (the seeds') and the one envelope.

A service refuses with an ApplicationError (or a subclass named for its domain); the API, the
Studio's JSON endpoints and the pages all answer it from here, so a refusal reads the same
wherever it is met: {"success": false, "code": ..., "message": ...}.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

STATUS_BY_CODE = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "INSUFFICIENT_CREDITS": 402,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "IDEMPOTENCY_CONFLICT": 409,
    "IDEMPOTENCY_IN_PROGRESS": 409,
    "IDEMPOTENCY_ANSWER_NOT_KEPT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "TTS_RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "TTS_PROVIDER_UNAVAILABLE": 502,
}
# The first code of a status stands for it (409: IDEMPOTENCY_CONFLICT).
CODE_BY_STATUS = {status: code for code, status in reversed(STATUS_BY_CODE.items())}


class ApplicationError(Exception):
    """A request the product will not carry out; nothing was stored or charged. `code` is one of
    STATUS_BY_CODE's; `message` is for the person who sent the request; `retry_after` (seconds)
    goes out as Retry-After."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        if retry_after is not None:
            self.headers.setdefault("Retry-After", str(retry_after))

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]


def error_envelope(code: str, message: str) -> dict[str, object]:
    return {"success": False, "code": code, "message": message}


def error_response(
    code: str, message: str, *, headers: dict[str, str] | None = None, status: int | None = None
) -> JsonResponse:
    response = JsonResponse(error_envelope(code, message), status=status or STATUS_BY_CODE[code])
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def application_error_response(error: ApplicationError) -> JsonResponse:
    return error_response(error.code, error.message, headers=error.headers)


def json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A JSON view's one error handler (the Studio's, as ninja's is the API's): an ApplicationError
    it raises is answered in the envelope with its code's status."""

    @wraps(view)
    def answered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as error:
            return application_error_response(error)

    return answered
