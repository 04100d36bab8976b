"""The one place that tells browsers about location changes (through the channel layer)."""

from __future__ import annotations

import logging
from collections import defaultdict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def floor_group(floor_id: int) -> str:
    return f"floor.{floor_id}"


def marker(location) -> dict:
    return {
        "tag": location.tag_id,
        "x": location.x,
        "y": location.y,
        "accuracy_m": location.accuracy_m,
        "room": location.room_id,
        "t": location.fixed_at.timestamp(),
    }


def publish_floor_updates(locations) -> None:
    """One message per floor with every marker that changed: coalesced, so a busy floor stays calm."""
    layer = get_channel_layer()
    if layer is None:
        return
    per_floor: dict[int, list[dict]] = defaultdict(list)
    for location in locations:
        per_floor[location.floor_id].append(marker(location))
    for floor_id, markers in per_floor.items():
        try:
            async_to_sync(layer.group_send)(floor_group(floor_id), {"type": "floor.markers", "markers": markers})
        except Exception:  # noqa: BLE001 - the map missing one update must never stop positioning
            log.exception("could not publish %d markers to floor %s", len(markers), floor_id)
