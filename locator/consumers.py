"""The live floor map over websockets: ``ws/floors/<floor_id>/`` (optionally ``?asset=<id>``).

``connect()`` refuses anonymous users (close code 4401), users who may not see equipment (4403: needs
``assets.view_asset`` or ``locator.view_tag``) and unknown floors (4404). Then the consumer joins
``floor.<id>`` BEFORE reading the snapshot, so no delta can fall between the two (each marker carries
its fix time ``t``; clients ignore a delta older than what they have).

Server to client (prefixed types): ``floor.snapshot`` (on connect and on request), ``floor.markers``
(position deltas, at most about one a second per floor, with ``gone`` for tags that left the floor),
``floor.assets`` (full details of some markers: after a status change, or answering ``floor.describe``),
``floor.rooms`` (room tints), ``floor.pong``. Client to server: ``floor.snapshot``, ``floor.describe``
(``tags``: unknown tags seen in a delta), ``floor.rooms``, ``floor.ping``. See docs/web.md.

Deltas arrive from the channel layer already serialised (``text``), so forwarding them to many open
maps costs one ``send`` each, not one JSON encoding each.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import services

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
VIEW_PERMISSIONS = ("assets.view_asset", "locator.view_tag")
MAX_DESCRIBE = 500


def _may_view(user) -> bool:
    return any(user.has_perm(p) for p in VIEW_PERMISSIONS)


def _floor_exists(floor_id: int) -> bool:
    from hospital.facility.models import Floor

    return Floor.objects.filter(pk=floor_id).exists()


class FloorConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(_may_view)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.floor_id = int(self.scope["url_route"]["kwargs"]["floor_id"])
        if not await database_sync_to_async(_floor_exists)(self.floor_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.asset_ids = [int(v) for v in query.get("asset", [""])[0].split(",") if v.strip().isdigit()] or None
        self.group = services.floor_group(self.floor_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_snapshot()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def send_snapshot(self):
        snapshot = await database_sync_to_async(services.floor_snapshot)(self.floor_id, asset_ids=self.asset_ids)
        await self.send_json(snapshot)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "floor.snapshot":
            await self.send_snapshot()
        elif kind == "floor.describe":
            tags = [t for t in content.get("tags", []) if isinstance(t, int)][:MAX_DESCRIBE]
            markers = await database_sync_to_async(services.floor_markers)(self.floor_id, tag_ids=tags)
            await self.send_json({"type": "floor.assets", "floor": self.floor_id, "markers": markers,
                                  "described": tags})
        elif kind == "floor.rooms":
            rooms = await database_sync_to_async(self._room_states)()
            await self.send_json({"type": "floor.rooms", "floor": self.floor_id, "rooms": rooms})
        elif kind == "floor.ping":
            await self.send_json({"type": "floor.pong"})

    def _room_states(self) -> dict:
        from hospital.facility.models import Floor

        return {str(k): v for k, v in services.room_states(Floor.objects.get(pk=self.floor_id)).items()}

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except (ValueError, TypeError):
            pass  # not JSON: ignore rather than drop the map's connection

    # Events from the channel layer (group floor.<id>), forwarded as they are.

    async def _forward(self, event):
        text = event.get("text")
        if text is None:  # an event published without pre-serialisation (older sender)
            text = json.dumps({k: v for k, v in event.items() if k != "text"}, separators=(",", ":"))
        await self.send(text_data=text)

    async def floor_markers(self, event):
        await self._forward(event)

    async def floor_assets(self, event):
        await self._forward(event)

    async def floor_rooms(self, event):
        await self._forward(event)
