"""The product's error codes and their HTTP statuses (the seeds'), shared by the API's envelope
(api/errors.py) and the pages that answer a service's refusal, so no page imports the API."""

STATUS_BY_CODE = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "INSUFFICIENT_CREDITS": 402,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "TTS_RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "TTS_PROVIDER_UNAVAILABLE": 502,
}
