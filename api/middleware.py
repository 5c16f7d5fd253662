"""No HTML error pages under /api/ or /v1/: whatever Django or ninja answers on its own (an unknown
path, a method not allowed, a body too large) is put into the API's error envelope — OpenAI's
shape under /v1/, which the `openai` package reads."""

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from api.openai.errors import openai_error_response
from core.errors import CODE_BY_STATUS, ApplicationError, error_response
from core.middleware import AroundResponse

_MESSAGES = {
    404: ("NOT_FOUND", "No such endpoint. See /api/v1/docs."),
    405: ("METHOD_NOT_ALLOWED", "This endpoint does not take that method. See /api/v1/docs."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    403: ("FORBIDDEN", "This request is not allowed (a browser session needs its CSRF token)."),
}


def _enveloped(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    openai = request.path.startswith("/v1/")
    if (
        (openai or request.path.startswith("/api/"))
        and response.status_code >= 400
        and not response.get("Content-Type", "").startswith("application/json")
    ):
        status = response.status_code
        fallback = "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR"
        code, message = _MESSAGES.get(status) or (CODE_BY_STATUS.get(status, fallback), "The request failed.")
        # The answer keeps its own status; only its body becomes the envelope.
        if openai:
            error = ApplicationError(code, message.replace("/api/v1/docs", "/v1/docs"))
            enveloped = openai_error_response(error)
            enveloped.status_code = status
        else:
            enveloped = error_response(code, message, status=status)
        if "Allow" in response:
            enveloped["Allow"] = response["Allow"]
        return enveloped
    return response


class ApiErrorEnvelopeMiddleware(AroundResponse):
    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return _enveloped(request, response)
