"""The API's envelope: {"success": true, "data": ...} on success; errors are core.errors'."""

from core.errors import CODE_BY_STATUS, STATUS_BY_CODE, ApplicationError, error_response

__all__ = ["CODE_BY_STATUS", "STATUS_BY_CODE", "ApiError", "error_response", "ok"]


class ApiError(ApplicationError):
    """A refusal made by the API layer itself (authentication, a body it cannot read)."""


def ok(data: dict) -> dict:
    return {"success": True, "data": data}
