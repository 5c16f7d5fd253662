"""The API's error envelope: {"success": false, "code": ..., "message": ...}, on every error."""

from django.http import JsonResponse

from config.errors import STATUS_BY_CODE

__all__ = ["CODE_BY_STATUS", "STATUS_BY_CODE", "ApiError", "error_response", "ok"]

CODE_BY_STATUS = {status: code for code, status in STATUS_BY_CODE.items()}


class ApiError(Exception):
    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS_BY_CODE[code]
        self.headers = headers or {}


def error_response(
    code: str, message: str, *, headers: dict[str, str] | None = None, status: int | None = None
) -> JsonResponse:
    response = JsonResponse({"success": False, "code": code, "message": message}, status=status or STATUS_BY_CODE[code])
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def ok(data: dict) -> dict:
    return {"success": True, "data": data}
