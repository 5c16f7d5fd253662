"""The API's envelope: {"success": true, "data": ...} on success; errors are core.errors'."""

from core.errors import ApplicationError


class ApiError(ApplicationError):
    """A refusal made by the API layer itself (authentication, a body it cannot read)."""


def ok(data: object) -> dict[str, object]:
    """The success envelope; `data` a dict or a schema of api.schemas."""
    return {"success": True, "data": data}
