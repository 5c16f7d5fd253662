from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from studio.realtime import session_group_name, user_group_name
from studio.selectors import session_get_for_user

# Sent when refusing a socket; the page treats it as "gone" and stops reconnecting.
CLOSE_NOT_FOUND = 4404


class SessionConsumer(AsyncJsonWebsocketConsumer):
    """Live updates of one Studio session, for those who may see it."""

    groups_joined: tuple[str, ...] = ()

    async def connect(self) -> None:
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        session = await database_sync_to_async(session_get_for_user)(self.scope["user"], session_id)
        if session is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.groups_joined = (session_group_name(session.id), user_group_name(self.scope["user"].id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The socket only pushes; the page acts through HTTP, where CSRF and forms apply."""

    async def generation_update(self, event: dict) -> None:
        await self.send_json(event)

    async def generation_deleted(self, event: dict) -> None:
        await self.send_json(event)

    async def wallet_update(self, event: dict) -> None:
        await self.send_json(event)
