import logging
import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


class WholeBodyASGIHandler(ASGIHandler):
    """Django's handler, sending a whole answer (a tts_non_stream WAV: ~50 KB a second of audio) to
    the server in one message up to this size instead of 64 KB pieces: 590 KB in one write, not
    nine. Streamed answers send their parts as they come, as before."""

    chunk_size = 4 * 1024 * 1024


# Django must be set up before the consumers (and the models they import) load (as
# get_asgi_application does).
django.setup(set_prefix=False)
django_asgi_app = WholeBodyASGIHandler()

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
