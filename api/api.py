"""REST API v1, as the published docs describe it (../shared/seeds/), and the legacy /tts: the
NinjaAPI, its one error handler, and the routers of api/routers mounted on it."""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.operation import Operation

from api import API_VERSION
from api.auth import bearer_all_scopes
from api.errors import FRAMEWORK_ERRORS, framework_error_logged
from api.routers import clones, generations, health, legacy, pronunciations, speech, tokens, voices
from core.errors import ApplicationError, application_error_response


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
    pronunciations.router,
):
    api.add_router("", router)


# ---------- errors: every one in the envelope, through the one handler ----------


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return application_error_response(error)


def _other_error(request: HttpRequest, error: Exception) -> HttpResponse:
    return _application_error(request, framework_error_logged(request, error))


for _kind in FRAMEWORK_ERRORS:
    api.exception_handler(_kind)(_other_error)
