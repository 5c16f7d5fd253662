import asyncio
import logging
import uuid
from importlib import import_module
from typing import Generic, TypeVar

import redis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare

from accounts.models import User
from core.realtime import (
    WEBSOCKET_LEASE_SECONDS,
    browser_session_digest,
    session_group_name,
    user_group_name,
    websocket_lease_release,
    websocket_lease_take,
)
from studio.models import Session
from studio.selectors import SessionAccess, generation_actions, session_access

logger = logging.getLogger(__name__)

# What a socket's access is: a session's role (SessionConsumer), or the account itself.
Access = TypeVar("Access")

# Close codes the page explains (static/studio/studio.js); it reconnects after any other.
# Refused at connect, or the session was deleted: "This session is no longer available."
CLOSE_NOT_FOUND = 4404
# Access ended while open (removed from the team, share revoked, account deactivated).
CLOSE_ACCESS_ENDED = 4403
# This browser signed out.
CLOSE_SIGNED_OUT = 4401
# The account has WEBSOCKETS_PER_USER_MAX sockets open already.
CLOSE_TOO_MANY = 4429
# The client sent a frame: the socket only pushes.
CLOSE_UNEXPECTED_FRAME = 1008

_SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


def _socket_user(*, session_key: str | None, user_id: int) -> User | None:
    """The socket's user as of now: None once the browser signed out (or its sign-in was
    invalidated) or the account was deactivated. Read-only, unlike django.contrib.auth.get_user,
    which may rotate the session."""
    store = _SessionStore(session_key)
    if str(store.get(SESSION_KEY)) != str(user_id):
        return None
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        return None
    signed = store.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(signed, expected) for expected in hashes):
        return None
    return user


def _socket_access(*, session_key: str | None, user_id: int, session_id: uuid.UUID) -> SessionAccess | None:
    """What the socket's user may do in the session now, read afresh: None once the user may no
    longer (see _socket_user) or the session is no longer theirs to see."""
    user = _socket_user(session_key=session_key, user_id=user_id)
    return None if user is None else session_access(user, session_id)


def _session_exists(session_id: uuid.UUID) -> bool:
    # A deleted one is gone for everyone, even while its row waits for its work to end.
    return Session.objects.filter(id=session_id, deleted_at__isnull=True).exists()


_lease_take = sync_to_async(websocket_lease_take, thread_sensitive=False)
_lease_release = sync_to_async(websocket_lease_release, thread_sensitive=False)


class AccountSocket(AsyncJsonWebsocketConsumer, Generic[Access]):
    """A Studio socket of a signed-in account, open as long as its user may: it hears its account's
    group (balance, clone fits) and the groups a subclass adds, and counts against the account's
    WEBSOCKETS_PER_USER_MAX.

    Channels hands a consumer its events one at a time, in order: an "access.check" is answered
    (access read again, the socket closed if it ended) before the next update is looked at.
    """

    groups_joined: tuple[str, ...] = ()
    # Set while the socket may hear its groups; None before accepting and once it ended.
    access: Access | None = None
    leased = False
    lease_renewal: asyncio.Task | None = None

    def access_read(self) -> Access | None:
        """The socket's access read afresh (in a thread: it reads the database); None: none."""
        raise NotImplementedError

    def access_lost_code(self) -> int:
        """Ran in a thread when access ended while open: the close code that says why."""
        return CLOSE_ACCESS_ENDED

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Even when a handler failed: the count then runs out instead of being renewed for ever.
            if self.lease_renewal is not None:
                self.lease_renewal.cancel()

    async def account_open(self, groups: tuple[str, ...]) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Joined before access is read, so an access change committed in between is heard.
        self.groups_joined = (*groups, user_group_name(user.id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.browser_session_key = self.scope["session"].session_key
        access = await database_sync_to_async(self.access_read)()
        if access is None:
            await self._leave()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.leased = await _lease_take(user_id=user.id, socket_id=self.channel_name)
        # Accepted either way: a socket refused before accepting reaches the page without its code.
        await self.accept()
        if not self.leased:
            await self._end(CLOSE_TOO_MANY)
            return
        self.lease_renewal = asyncio.create_task(self._lease_renew(user.id))
        self.access = access

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _end(self, code: int) -> None:
        self.access = None
        await self._leave()
        await self.close(code=code)

    async def _leave(self) -> None:
        self.access = None
        groups, self.groups_joined = self.groups_joined, ()
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.lease_renewal is not None:
            self.lease_renewal.cancel()
            self.lease_renewal = None
        if self.leased:
            self.leased = False
            await _lease_release(user_id=self.scope["user"].id, socket_id=self.channel_name)

    async def _lease_renew(self, user_id: int) -> None:
        while True:
            await asyncio.sleep(WEBSOCKET_LEASE_SECONDS / 3)
            try:
                await _lease_take(user_id=user_id, socket_id=self.channel_name)
            except redis.RedisError:
                logger.warning("could not renew the count of websocket %s", self.channel_name, exc_info=True)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """The socket only pushes; the page acts through HTTP, where CSRF and forms apply. A frame
        from the client (decoded or not) ends it."""
        await self._end(CLOSE_UNEXPECTED_FRAME)

    # ---------- events from the channel layer ----------

    async def access_check(self, event: dict) -> None:
        if self.access is None or event.get("user_id") not in (None, self.scope["user"].id):
            return
        access = await database_sync_to_async(self.access_read)()
        if access is not None:
            self.access = access  # a role may have changed (viewer, editor)
            return
        await self._end(await database_sync_to_async(self.access_lost_code)())

    async def access_signed_out(self, event: dict) -> None:
        digest = event.get("session_digest")
        if self.access is None:
            return
        if digest is None or digest == browser_session_digest(self.browser_session_key or ""):
            await self._end(CLOSE_SIGNED_OUT)

    async def wallet_update(self, event: dict) -> None:
        if self.access is not None:
            await self.send_json(event)

    async def voice_fit(self, event: dict) -> None:
        # Sent to the clone owner's group only (voices.services): the account's own sockets.
        if self.access is not None:
            await self.send_json(event)


class SessionConsumer(AccountSocket[SessionAccess]):
    """Live updates of one Studio session, for those who may see it, as long as they may."""

    async def connect(self) -> None:
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        await self.account_open((session_group_name(self.session_id),))

    def access_read(self) -> SessionAccess | None:
        return _socket_access(
            session_key=self.browser_session_key, user_id=self.scope["user"].id, session_id=self.session_id
        )

    def access_lost_code(self) -> int:
        return CLOSE_ACCESS_ENDED if _session_exists(self.session_id) else CLOSE_NOT_FOUND

    async def generation_update(self, event: dict) -> None:
        if self.access is None:
            return
        event = dict(event)
        generated_by = event.pop("generated_by", None)
        state = event["generation"]
        event["generation"] = state | generation_actions(self.access, generated_by=generated_by, status=state["status"])
        await self.send_json(event)

    async def generation_deleted(self, event: dict) -> None:
        if self.access is not None:
            await self.send_json(event)


class VoicesConsumer(AccountSocket[User]):
    """The clone page's live updates: its account's group only (how its clones' fits go)."""

    async def connect(self) -> None:
        await self.account_open(())

    def access_read(self) -> User | None:
        return _socket_user(session_key=self.browser_session_key, user_id=self.scope["user"].id)
