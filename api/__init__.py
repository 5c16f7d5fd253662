"""The REST API (api.api builds it from the routers in api/routers, one a resource)."""

# The API's version; the Python SDK in sdk/ carries the same one.
API_VERSION = "2.2.0"
