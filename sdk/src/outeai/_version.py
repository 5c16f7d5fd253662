# The SDK's version is the API version of the server it was built against (api/v1.py's API_VERSION).
__version__ = "2.2.0"
API_VERSION = "2.2.0"
SDK_VERSION = __version__
