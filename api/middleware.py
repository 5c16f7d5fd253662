"""No HTML error pages under /api/ or /v1/: whatever Django or ninja answers on its own (an unknown
path, a method not allowed, a body too large) is put into the API's error envelope — OpenAI's
shape under /v1/, which the `openai` package reads."""

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from api.openai.errors import openai_error_response
from core.body_limit import body_limit_for
from core.errors import CODE_BY_STATUS, ApplicationError, error_response
from core.middleware import AroundResponse

_MESSAGES = {
    404: ("NOT_FOUND", "No such endpoint. See /api/v1/docs."),
    405: ("METHOD_NOT_ALLOWED", "This endpoint does not take that method. See /api/v1/docs."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    403: ("FORBIDDEN", "This request is not allowed (a browser session needs its CSRF token)."),
}


def _is_openai(path: str) -> bool:
    return path.startswith("/v1/")


def refusal_response(path: str, status: int, *, message: str | None = None) -> JsonResponse:
    """A refusal with `status` made outside the APIs (by Django, ninja or core's wrappers), in the
    shape of the API at `path`: OpenAI's under /v1/, the seeds' envelope elsewhere."""
    fallback = "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR"
    code, default = _MESSAGES.get(status) or (CODE_BY_STATUS.get(status, fallback), "The request failed.")
    message = message or default
    # The answer keeps its own status; only its body becomes the envelope.
    if _is_openai(path):
        response = openai_error_response(ApplicationError(code, message.replace("/api/v1/docs", "/v1/docs")))
        response.status_code = status
        return response
    return error_response(code, message, status=status)


def too_large_response(path: str) -> JsonResponse:
    """core.body_limit's refusal (config/asgi.py), answered before Django reads the body."""
    limit = body_limit_for(path)
    return refusal_response(
        path, 413, message=f"The request body is too large: this endpoint takes at most {limit} bytes."
    )


def _enveloped(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if (
        (_is_openai(request.path) or request.path.startswith("/api/"))
        and response.status_code >= 400
        and not response.get("Content-Type", "").startswith("application/json")
    ):
        enveloped = refusal_response(request.path, response.status_code)
        if "Allow" in response:
            enveloped["Allow"] = response["Allow"]
        return enveloped
    return response


class ApiErrorEnvelopeMiddleware(AroundResponse):
    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return _enveloped(request, response)
