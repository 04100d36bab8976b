"""The live alarm console over websockets.

``ws/alarms/`` (every site) or ``ws/alarms/site/<id>/``. ``connect()`` refuses anonymous users and users
without ``environment.view_alarm``; then the consumer joins its group (``alarms`` or
``alarms.site.<id>``) BEFORE reading the snapshot, so no delta can fall between the two; clients
ignore a delta older than what they have (``version``). Messages (prefixed types):
``alarms.snapshot`` (on connect and on request), ``alarms.delta`` (alarms, events, floods that
changed), ``alarms.action`` (an operator action recorded or applied), ``alarms.service`` (ingest started
or stopped shedding load), ``alarms.pong``.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .services import ALL_GROUP, site_group, snapshot

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class AlarmConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(user.has_perm)("environment.view_alarm"):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.site_id = self.scope["url_route"]["kwargs"].get("site_id")
        self.group = site_group(self.site_id) if self.site_id else ALL_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_snapshot()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def send_snapshot(self):
        snap = await database_sync_to_async(snapshot)(self.site_id)
        await self.send_json({"type": "alarms.snapshot", **snap})

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "alarms.ping":
            await self.send_json({"type": "alarms.pong"})
        elif kind == "alarms.snapshot":
            await self.send_snapshot()

    async def alarms_delta(self, event):
        await self.send_json(event)

    async def alarms_action(self, event):
        await self.send_json(event)

    async def alarms_service(self, event):
        await self.send_json(event)
