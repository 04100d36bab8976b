"""Websockets follow the same rules as pages (``middleware``): a session that should have given a code
and did not, or an administrator who must still enrol, counts as anonymous, so consumers refuse it."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from . import policy


def _refused(user, session) -> bool:
    if not user.is_authenticated or policy.session_verified(user, session):
        return False
    return policy.has_device(user) or policy.must_enrol(user)


class TwoFactorWebsocketMiddleware(BaseMiddleware):
    """Goes inside ``AuthMiddlewareStack`` (it needs ``scope['user']`` and ``scope['session']``)."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is not None and await database_sync_to_async(_refused)(user, scope.get("session")):
            scope = dict(scope, user=AnonymousUser())
        return await super().__call__(scope, receive, send)
