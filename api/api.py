"""REST API v1, as the published docs describe it (../shared/seeds/), and the legacy /tts: the
NinjaAPI, its one error handler, and the routers of api/routers mounted on it."""

import logging

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.operation import Operation

from api import API_VERSION
from api.auth import bearer_all_scopes
from api.errors import ApiError
from api.routers import clones, generations, health, legacy, speech, tokens, voices
from core.errors import CODE_BY_STATUS, ApplicationError, application_error_response

logger = logging.getLogger(__name__)


class OuteAIApi(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Named by the endpoint alone, not by the router's module: moving one keeps its id.
        return f"api_v1_{operation.view_func.__name__}"


api = OuteAIApi(
    title="OuteAI API",
    version=API_VERSION,
    description="Text-to-speech: voices, speech as a whole WAV or a stream, your generations, voice clones and API "
    "tokens. "
    "Authenticate with `Authorization: Bearer oute_…`. Errors share one envelope: "
    '`{"success": false, "code": "...", "message": "..."}`.',
    # Each endpoint names its scope; one that names none takes only a token with every scope.
    auth=bearer_all_scopes,
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

for router in (
    health.router,
    voices.router,
    speech.router,
    legacy.router,
    tokens.router,
    clones.router,
    generations.router,
):
    api.add_router("", router)


# ---------- errors: every one in the envelope, through the one handler ----------


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return application_error_response(error)


def _framework_error(error: Exception) -> ApplicationError:
    """What ninja and Django raise on their own, as the application error it stands for."""
    if isinstance(error, ValidationError):
        return ApiError("VALIDATION_ERROR", _validation_message(error.errors))
    if isinstance(error, AuthenticationError):
        return ApiError("UNAUTHORIZED", "Missing or invalid API token. Send `Authorization: Bearer oute_…`.")
    if isinstance(error, HttpError) and error.status_code == 403:
        # The only 403 here is a browser session without its CSRF token.
        return ApiError("UNAUTHORIZED", "CSRF check failed: send the X-CSRFToken header with the session.")
    if isinstance(error, HttpError):
        return ApiError(CODE_BY_STATUS.get(error.status_code, "VALIDATION_ERROR"), str(error))
    if isinstance(error, RequestDataTooBig):
        return ApiError("PAYLOAD_TOO_LARGE", "The request body is too large.")
    if isinstance(error, MultiPartParserError | SuspiciousOperation | BadRequest):
        return ApiError("VALIDATION_ERROR", "The request is malformed: send JSON, or a well-formed multipart form.")
    return ApiError("INTERNAL_ERROR", "Something went wrong on our side. It has been logged.")


@api.exception_handler(ValidationError)
@api.exception_handler(AuthenticationError)
@api.exception_handler(HttpError)
@api.exception_handler(MultiPartParserError)
@api.exception_handler(SuspiciousOperation)
@api.exception_handler(BadRequest)
@api.exception_handler(Exception)
def _other_error(request: HttpRequest, error: Exception) -> HttpResponse:
    answer = _framework_error(error)
    if answer.code == "INTERNAL_ERROR":
        logger.error("unexpected error in %s %s", request.method, request.path, exc_info=error)
    return _application_error(request, answer)


def _validation_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        if error.get("type") in {"json_invalid", "model_attributes_type"} or "JSON" in str(error.get("msg", "")):
            return "The request body is not valid JSON object."
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in {"body", "payload"})
        parts.append(f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "The request is not valid."
