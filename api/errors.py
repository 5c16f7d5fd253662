"""The API's envelope: {"success": true, "data": ...} on success; errors are core.errors', and what
ninja and Django raise on their own as the application error it stands for (for both APIs)."""

import logging

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.errors import CODE_BY_STATUS, ApplicationError

logger = logging.getLogger(__name__)

# What each API answers through framework_error: ninja's and Django's own errors, and any other.
FRAMEWORK_ERRORS = (
    ValidationError,
    AuthenticationError,
    HttpError,
    MultiPartParserError,
    SuspiciousOperation,
    BadRequest,
    Exception,
)


class ApiError(ApplicationError):
    """A refusal made by the API layer itself (authentication, a body it cannot read)."""


def ok(data: object) -> dict[str, object]:
    """The success envelope; `data` a dict or a schema of api.schemas."""
    return {"success": True, "data": data}


def framework_error(error: Exception) -> ApplicationError:
    """What ninja and Django raise on their own, as the application error it stands for."""
    if isinstance(error, ValidationError):
        return ApiError("VALIDATION_ERROR", validation_message(error.errors))
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


def framework_error_logged(request: HttpRequest, error: Exception) -> ApplicationError:
    """framework_error, with the unexpected ones logged."""
    answer = framework_error(error)
    if answer.code == "INTERNAL_ERROR":
        logger.error("unexpected error in %s %s", request.method, request.path, exc_info=error)
    return answer


def validation_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        if error.get("type") in {"json_invalid", "model_attributes_type"} or "JSON" in str(error.get("msg", "")):
            return "The request body is not valid JSON object."
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in {"body", "payload"})
        parts.append(f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "The request is not valid."
