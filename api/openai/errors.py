"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with our codes'
statuses (core.errors.STATUS_BY_CODE), so the `openai` package raises the class a status stands for:
400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, 402 and 502
APIStatusError (502 as InternalServerError)."""

from django.http import JsonResponse

from core.errors import ApplicationError

# The one table: our code -> OpenAI's error type and code, for every code of STATUS_BY_CODE
# (tests/test_openai_contract.py). The fallback below only keeps a missed one answerable.
OPENAI_ERROR_BY_CODE = {
    "VALIDATION_ERROR": ("invalid_request_error", "invalid_value"),
    "UNAUTHORIZED": ("invalid_request_error", "invalid_api_key"),
    "FORBIDDEN": ("invalid_request_error", "insufficient_permissions"),
    "INSUFFICIENT_CREDITS": ("insufficient_quota", "insufficient_quota"),
    "NOT_FOUND": ("invalid_request_error", "not_found"),
    "METHOD_NOT_ALLOWED": ("invalid_request_error", "method_not_allowed"),
    "PAYLOAD_TOO_LARGE": ("invalid_request_error", "payload_too_large"),
    "TTS_RATE_LIMITED": ("requests", "rate_limit_exceeded"),
    "INTERNAL_ERROR": ("server_error", "internal_error"),
    "TTS_PROVIDER_UNAVAILABLE": ("server_error", "engine_unavailable"),
    "IDEMPOTENCY_CONFLICT": ("invalid_request_error", "idempotency_key_reused"),
    "IDEMPOTENCY_IN_PROGRESS": ("invalid_request_error", "idempotency_key_in_use"),
    "IDEMPOTENCY_ANSWER_NOT_KEPT": ("invalid_request_error", "idempotency_answer_not_kept"),
}

# The request's fields as a refusal's first word names them (the services speak of `text`).
_PARAM_BY_WORD = {
    "text": "input",
    "input": "input",
    "voice": "voice",
    "model": "model",
    "speed": "speed",
    "response_format": "response_format",
    "stream_format": "stream_format",
    "instructions": "instructions",
    "language": "language",
}


def openai_param(message: str) -> str | None:
    """The field a refusal is about, when its message starts by naming it ("text is empty")."""
    word = message.split(" ", 1)[0].strip(":.,").lower()
    return _PARAM_BY_WORD.get(word)


def openai_error_body(error: ApplicationError, *, param: str | None = None) -> dict:
    status = error.status
    kind, code = OPENAI_ERROR_BY_CODE.get(
        error.code, ("invalid_request_error" if status < 500 else "server_error", error.code.lower())
    )
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": param if param is not None else openai_param(error.message),
            "code": code,
        }
    }


def openai_error_response(error: ApplicationError, *, param: str | None = None) -> JsonResponse:
    response = JsonResponse(openai_error_body(error, param=param), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response
