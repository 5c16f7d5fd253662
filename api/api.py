"""REST API v1, as the published docs describe it (../shared/seeds/), and the legacy /tts: the
NinjaAPI, its one error handler, and the routers of api/routers mounted on it."""

import logging

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.operation import Operation

from api import API_VERSION
from api.auth import bearer_all_scopes
from api.errors import framework_error
from api.routers import clones, health, legacy, speech, tokens, voices
from core.errors import ApplicationError, application_error_response

logger = logging.getLogger(__name__)


class OuteAIApi(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Named by the endpoint alone, not by the router's module: moving one keeps its id.
        return f"api_v1_{operation.view_func.__name__}"


api = OuteAIApi(
    title="OuteAI API",
    version=API_VERSION,
    description="Text-to-speech: voices, speech as a whole WAV or a stream, voice clones and API tokens. "
    "Authenticate with `Authorization: Bearer oute_…`. Errors share one envelope: "
    '`{"success": false, "code": "...", "message": "..."}`.',
    # Each endpoint names its scope; one that names none takes only a token with every scope.
    auth=bearer_all_scopes,
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

for router in (health.router, voices.router, speech.router, legacy.router, tokens.router, clones.router):
    api.add_router("", router)


# ---------- errors: every one in the envelope, through the one handler ----------


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return application_error_response(error)


@api.exception_handler(ValidationError)
@api.exception_handler(AuthenticationError)
@api.exception_handler(HttpError)
@api.exception_handler(MultiPartParserError)
@api.exception_handler(SuspiciousOperation)
@api.exception_handler(BadRequest)
@api.exception_handler(Exception)
def _other_error(request: HttpRequest, error: Exception) -> HttpResponse:
    answer = framework_error(error)
    if answer.code == "INTERNAL_ERROR":
        logger.error("unexpected error in %s %s", request.method, request.path, exc_info=error)
    return _application_error(request, answer)
