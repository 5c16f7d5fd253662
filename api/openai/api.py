"""The /v1/ NinjaAPI: OpenAI's speech endpoints with OpenAI's error shape (api.openai.errors), the
same `oute_` tokens (the speech scope) and the same services as /api/v1/."""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from api import API_VERSION
from api.auth import bearer_speech
from api.errors import FRAMEWORK_ERRORS, framework_error, framework_error_logged
from api.openai import catalog, speech
from api.openai.errors import openai_error_response
from core.errors import ApplicationError

openai_api = NinjaAPI(
    title="OuteAI OpenAI-compatible API",
    version=API_VERSION,
    description="OpenAI's `POST /v1/audio/speech`, `GET /v1/models` and `GET /v1/audio/voices`, for the "
    "`openai` package: set `base_url` to this server's `/v1` and `api_key` to an `oute_` token with the "
    'speech scope. Errors in OpenAI\'s shape: `{"error": {"message", "type", "param", "code"}}`.',
    auth=bearer_speech,
    urls_namespace="openai-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
openai_api.add_router("", speech.router)
openai_api.add_router("", catalog.router)


@openai_api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return openai_error_response(error)


def _other_error(request: HttpRequest, error: Exception) -> HttpResponse:
    return openai_error_response(framework_error_logged(request, error))


def _validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    # The field as OpenAI names it: the first invalid one's path without ninja's body/payload.
    location = error.errors[0].get("loc", ()) if error.errors else ()
    fields = [str(part) for part in location if part not in {"body", "payload"}]
    return openai_error_response(framework_error(error), param=fields[0] if fields else None)


for _kind in FRAMEWORK_ERRORS:
    openai_api.exception_handler(_kind)(_other_error)
openai_api.exception_handler(ValidationError)(_validation_error)
