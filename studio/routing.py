from django.urls import path

from studio.consumers import SessionConsumer

websocket_urlpatterns = [
    path("ws/studio/sessions/<uuid:session_id>/", SessionConsumer.as_asgi()),
]
