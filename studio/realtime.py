"""The Channels groups the Studio's websockets listen on, and sending to them."""

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def session_group_name(session_id: uuid.UUID | str) -> str:
    return f"studio.session.{session_id}"


def session_broadcast(session_id: uuid.UUID | str, event: dict) -> None:
    """Sends an event (its "type" names the consumer's handler) to everyone viewing a session."""
    async_to_sync(get_channel_layer().group_send)(session_group_name(session_id), event)


def user_group_name(user_id: int) -> str:
    return f"studio.user.{user_id}"


def user_broadcast(user_id: int, event: dict) -> None:
    """Sends an event to every Studio page the account has open (its balance, say)."""
    async_to_sync(get_channel_layer().group_send)(user_group_name(user_id), event)
