"""The live map's services layer: what the map shows, and the one place that tells browsers about it.

Only this module calls the channel layer for the map (``group_send`` to ``floor.<id>``); writes that
browsers must hear about call it inside ``transaction.on_commit`` so a map never shows what was rolled
back. Views and consumers stay thin.

* ``publish_floor_updates(locations)``: positions from ingest, coalesced to one ``floor.markers`` message
  per floor per call (ingest calls it at most once a second), serialised once for every browser.
  A tag that changed floor is sent as ``gone`` to the floor it left.
* ``floor_snapshot(floor)``: every marker of a floor with its asset's details (``floor.snapshot``).
* ``change_asset_status(asset, status, user)``: the audited status change (who/when on the asset, a
  history entry in the admin log) and its ``floor.assets`` message.
* Hooks other apps fill: ``room_states(floor)`` (the environment app registers the alarm states with
  ``register_room_state_provider``) and ``maintenance_due(assets)`` (``register_maintenance_provider``).

The websocket protocol is documented in docs/web.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

log = logging.getLogger(__name__)

ROOM_STATES = ("alarm", "warning", "normal", "no_data")
STALE_AFTER_S = 600  # a marker not heard for 10 minutes is drawn faded ("last seen 12 min ago")


def floor_group(floor_id: int) -> str:
    return f"floor.{floor_id}"


# --------------------------------------------------------------------------- positions (deltas)


def marker(location) -> dict:
    """The position part of a marker, as sent in ``floor.markers`` deltas."""
    return {
        "tag": location.tag_id,
        "x": location.x,
        "y": location.y,
        "accuracy_m": location.accuracy_m,
        "room": location.room_id,
        "t": round(location.fixed_at.timestamp(), 3),
    }


class _FloorMemory:
    """Which floor each tag was last published on, so the floor it left hears ``gone``.

    Per process: one ingest process sees all sightings of a tag (the subscription is partitioned by
    site/building). After a restart the first floor change of a tag is not known; the browsers' periodic
    resynchronisation (a fresh snapshot every few minutes) removes such a marker.
    """

    def __init__(self):
        self._floor: dict[int, int] = {}
        self._lock = threading.Lock()

    def moved(self, tag_id: int, floor_id: int | None) -> int | None:
        with self._lock:
            before = self._floor.get(tag_id)
            if floor_id is None:
                self._floor.pop(tag_id, None)
            else:
                self._floor[tag_id] = floor_id
        return before if before is not None and before != floor_id else None

    def clear(self) -> None:
        with self._lock:
            self._floor.clear()


floor_memory = _FloorMemory()


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # noqa: BLE001 - the map missing one update must never stop positioning or a write
        log.exception("could not publish %s to %s", event.get("type"), group)


def _encoded(payload: dict) -> dict:
    """A channel-layer event that carries its browser message already serialised: each consumer
    forwards the same text instead of encoding the same markers once per open map."""
    return {"type": payload["type"], "text": json.dumps(payload, separators=(",", ":"))}


def publish_floor_updates(locations) -> None:
    """One message per floor with every marker that changed: coalesced, so a busy floor stays calm."""
    per_floor: dict[int, list[dict]] = defaultdict(list)
    gone: dict[int, list[int]] = defaultdict(list)
    for location in locations:
        left = floor_memory.moved(location.tag_id, location.floor_id)
        if left is not None:
            gone[left].append(location.tag_id)
        if location.floor_id is not None:
            per_floor[location.floor_id].append(marker(location))
    now = round(time.time(), 3)
    for floor_id in sorted(per_floor.keys() | gone.keys()):
        _send(floor_group(floor_id), _encoded({
            "type": "floor.markers", "floor": floor_id, "t": now,
            "markers": per_floor.get(floor_id, []), "gone": gone.get(floor_id, []),
        }))


# --------------------------------------------------------------------------- markers with details


def _located_assets():
    from locator.models import CurrentLocation

    return CurrentLocation.objects.select_related("tag__asset").filter(tag__asset__isnull=False).only(
        "tag_id", "floor_id", "room_id", "x", "y", "accuracy_m", "fixed_at", "last_seen_at",
        "tag__asset__id", "tag__asset__asset_number", "tag__asset__asset_type_id", "tag__asset__manufacturer",
        "tag__asset__model", "tag__asset__status", "tag__asset__home_department_id",
    )


def _fixed_assets():
    from hospital.assets.models import Asset

    return Asset.objects.filter(installed_room__isnull=False, tag__isnull=True).select_related("installed_room").only(
        "id", "asset_number", "asset_type_id", "manufacturer", "model", "status", "home_department_id",
        "installed_room__id", "installed_room__floor_id", "installed_room__centroid_x",
        "installed_room__centroid_y",
    )


def _asset_fields(asset, due: dict) -> dict:
    d = due.get(asset.id)
    return {
        "asset": asset.id, "number": asset.asset_number, "type": asset.asset_type_id,
        "make": asset.manufacturer, "model": asset.model, "status": asset.status,
        "dept": asset.home_department_id, "due": d.isoformat() if isinstance(d, date) else d,
    }


def location_marker(location, due: dict) -> dict:
    """A tracked asset's full marker (snapshot form)."""
    return {
        **_asset_fields(location.tag.asset, due), "tag": location.tag_id, "fixed": False,
        "x": location.x, "y": location.y, "accuracy_m": location.accuracy_m, "room": location.room_id,
        "t": round(location.fixed_at.timestamp(), 3), "seen": round(location.last_seen_at.timestamp(), 3),
    }


def fixed_marker(asset, due: dict) -> dict:
    """Fixed equipment without a tag (fridges, freezers) sits in the middle of its installed room."""
    room = asset.installed_room
    return {
        **_asset_fields(asset, due), "tag": None, "fixed": True, "x": room.centroid_x, "y": room.centroid_y,
        "accuracy_m": 0.0, "room": room.id, "t": None, "seen": None,
    }


def floor_markers(floor_id: int, *, asset_ids: Iterable[int] | None = None, tag_ids: Iterable[int] | None = None
                  ) -> list[dict]:
    """Full markers of the assets on a floor (optionally only some assets or tags)."""
    located = _located_assets().filter(floor_id=floor_id)
    fixed = _fixed_assets().filter(installed_room__floor_id=floor_id)
    if asset_ids is not None:
        asset_ids = list(asset_ids)
        located, fixed = located.filter(tag__asset_id__in=asset_ids), fixed.filter(id__in=asset_ids)
    if tag_ids is not None:
        located, fixed = located.filter(tag_id__in=list(tag_ids)), fixed.none()
    located, fixed = list(located), list(fixed)
    due = maintenance_due([loc.tag.asset for loc in located] + fixed)
    return [location_marker(loc, due) for loc in located] + [fixed_marker(a, due) for a in fixed]


def floor_snapshot(floor_id: int, *, asset_ids: Iterable[int] | None = None) -> dict:
    """Everything a map needs to (re)start: every marker of the floor, the room states, the time."""
    from hospital.facility.models import Floor

    floor = Floor.objects.get(pk=floor_id)
    return {
        "type": "floor.snapshot", "floor": floor_id, "t": round(time.time(), 3),
        "markers": floor_markers(floor_id, asset_ids=asset_ids),
        "rooms": {str(k): v for k, v in room_states(floor).items()},
    }


def asset_position(asset) -> tuple[int | None, object | None]:
    """(floor id, CurrentLocation or None) of an asset: where its tag is, else its installed room."""
    from locator.models import CurrentLocation

    location = CurrentLocation.objects.filter(tag__asset=asset).select_related("room", "floor").first()
    if location is not None and location.floor_id is not None:
        return location.floor_id, location
    if asset.installed_room_id:
        return asset.installed_room.floor_id, None
    return None, location


# --------------------------------------------------------------------------- asset status


def allowed_statuses(user) -> list[str]:
    """What this person may set: everyone with ``change_asset_status`` marks equipment available, in use
    or needing cleaning; whoever manages assets (``change_asset``) may set any status."""
    from hospital.assets.choices import AssetStatus

    if user.has_perm("assets.change_asset"):
        return list(AssetStatus.values)
    if user.has_perm("assets.change_asset_status"):
        return [AssetStatus.AVAILABLE, AssetStatus.IN_USE, AssetStatus.NEEDS_CLEANING]
    return []


def change_asset_status(asset, status: str, user, note: str = "") -> bool:
    """Set an asset's status, audited (``updated_by``/``updated_at`` and an admin-log history entry),
    and tell the maps showing it. Returns False when nothing changed."""
    from django.contrib.admin.models import CHANGE, LogEntry

    from hospital.assets.choices import AssetStatus
    from hospital.assets.models import Asset

    if status not in AssetStatus.values:
        raise ValueError(f"unknown status {status!r}")
    if status not in allowed_statuses(user):
        raise PermissionDenied(f"you may not mark equipment as {AssetStatus(status).label.lower()}")
    with transaction.atomic():
        locked = Asset.objects.select_for_update().get(pk=asset.pk)
        before = locked.status
        if before == status:
            return False
        locked.status, locked.updated_by = status, user
        locked.save(update_fields=["status", "updated_by", "updated_at"])
        message = f"Status: {AssetStatus(before).label} → {AssetStatus(status).label}"
        if note.strip():
            message += f" ({note.strip()[:180]})"
        LogEntry.objects.log_actions(user.pk, [locked], CHANGE, change_message=message, single_object=True)
        asset.status, asset.updated_by, asset.updated_at = locked.status, user, locked.updated_at
        floor_id, _ = asset_position(locked)
        if floor_id is not None:
            transaction.on_commit(lambda: publish_assets(floor_id, [locked.pk]))
    return True


def publish_assets(floor_id: int, asset_ids: list[int]) -> None:
    """Send the current details of some assets to a floor's maps (``floor.assets``)."""
    markers = floor_markers(floor_id, asset_ids=asset_ids)
    if markers:
        _send(floor_group(floor_id), _encoded({"type": "floor.assets", "floor": floor_id, "markers": markers}))


def status_history(asset, limit: int = 20):
    """The audited changes of an asset, newest first (admin log entries)."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(asset), object_id=str(asset.pk)
    ).select_related("user").order_by("-action_time")[:limit]


# --------------------------------------------------------------------------- hooks for other apps

RoomStateProvider = Callable[[object], dict[int, str]]
MaintenanceProvider = Callable[[list], dict[int, date | str | None]]
_room_state_provider: RoomStateProvider | None = None
_maintenance_provider: MaintenanceProvider | None = None


def register_room_state_provider(provider: RoomStateProvider | None) -> RoomStateProvider | None:
    """Let another app decide room tints (the environment app: from its alarms). Call it from the app's
    ``AppConfig.ready()``; ``provider(floor)`` returns ``{room_id: "alarm"|"warning"|"normal"|"no_data"}``
    for the monitored rooms of the floor (rooms left out are drawn untinted: not monitored).
    Pass None to go back to the built-in reading-based states. Usable as a decorator."""
    global _room_state_provider
    _room_state_provider = provider
    return provider


def register_maintenance_provider(provider: MaintenanceProvider | None) -> MaintenanceProvider | None:
    """Let the maintenance app say when equipment is due: ``provider(assets)`` returns
    ``{asset_id: date}`` (assets left out show no due date)."""
    global _maintenance_provider
    _maintenance_provider = provider
    return provider


def room_states(floor) -> dict[int, str]:
    """THE hook for room tints: ``{room_id: "alarm"|"warning"|"normal"|"no_data"}`` for monitored rooms.

    The environment app fills it by registering a provider (see ``register_room_state_provider``);
    until then the state comes from readings alone (``reading_room_states``).
    """
    provider = _room_state_provider or reading_room_states
    try:
        states = provider(floor)
    except Exception:  # noqa: BLE001 - a broken provider must not take the map down
        log.exception("room state provider failed for floor %s; using readings", getattr(floor, "pk", floor))
        states = reading_room_states(floor)
    return {int(k): v for k, v in states.items() if v in ROOM_STATES}


def reading_room_states(floor, now=None) -> dict[int, str]:
    """Built-in states: a room with an environmental sensor is "normal" when a reading arrived recently
    (within three report intervals, at least 10 minutes), else "no_data". No alarm logic here."""
    from sensors.models import Reading, Sensor

    now = now or timezone.now()
    sensors = list(
        Sensor.objects.filter(room__floor=floor).values("id", "room_id", "report_interval_s")
    ) + list(
        Sensor.objects.filter(room__isnull=True, asset__installed_room__floor=floor).values(
            "id", "asset__installed_room_id", "report_interval_s")
    )
    if not sensors:
        return {}

    def allowed_age(s) -> float:
        return max(3.0 * (s["report_interval_s"] or 60), 600.0)

    oldest = now - timedelta(seconds=max(allowed_age(s) for s in sensors))
    latest = dict(
        Reading.objects.filter(sensor_id__in=[s["id"] for s in sensors], t__gte=oldest)
        .values("sensor_id").annotate(last=Max("t")).values_list("sensor_id", "last")
    )
    states: dict[int, str] = {}
    for s in sensors:
        room = s.get("room_id") or s.get("asset__installed_room_id")
        last = latest.get(s["id"])
        fresh = last is not None and (now - last).total_seconds() <= allowed_age(s)
        if fresh:
            states[room] = "normal"  # one sensor reporting is enough to call the room monitored
        else:
            states.setdefault(room, "no_data")
    return states


def publish_room_states(floor_ids: Iterable[int]) -> None:
    """Re-send the room tints of some floors (``floor.rooms``). The environment app calls this inside
    ``transaction.on_commit`` when a room's alarm state changes; maps also poll every minute."""
    from hospital.facility.models import Floor

    for floor in Floor.objects.filter(pk__in=list(floor_ids)):
        states = {str(k): v for k, v in room_states(floor).items()}
        _send(floor_group(floor.pk), _encoded({"type": "floor.rooms", "floor": floor.pk, "rooms": states}))


def maintenance_due(assets: list) -> dict[int, date | str | None]:
    """``{asset_id: due date}`` from the maintenance app's provider; empty until one is registered."""
    if _maintenance_provider is None or not assets:
        return {}
    try:
        return _maintenance_provider(assets) or {}
    except Exception:  # noqa: BLE001 - the map works without due dates
        log.exception("maintenance provider failed")
        return {}
