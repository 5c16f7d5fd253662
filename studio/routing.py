from django.urls import path

from studio.consumers import SessionConsumer, VoicesConsumer

websocket_urlpatterns = [
    path("ws/studio/sessions/<uuid:session_id>/", SessionConsumer.as_asgi()),
    # The clone page: how the account's clones' fits go.
    path("ws/voices/", VoicesConsumer.as_asgi()),
]
