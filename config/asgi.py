import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

# Django must be set up before the consumers (and the models they import) load.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from api.middleware import too_large_response  # noqa: E402
from core.body_limit import BodySizeLimit  # noqa: E402
from core.stream_abort import AbortedStreamNoteFilter, StreamAbort  # noqa: E402
from studio.routing import websocket_urlpatterns  # noqa: E402

logging.getLogger("uvicorn.error").addFilter(AbortedStreamNoteFilter())

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(StreamAbort(django_asgi_app), refusal=too_large_response),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
