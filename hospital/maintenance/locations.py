"""Where a device is for the engineer's round: its live location from the locator, the room fixed
equipment is installed in, or "not located" with where and when it was last seen. One query for any
number of assets."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.timesince import timesince

from hospital.assets.models import Asset

# The live floor map (built by the web-app work) shows an asset at this address.
MAP_URL = "/map/{floor_id}/?asset={asset_id}"


def stale_after() -> dt.timedelta:
    """A location older than this is not trusted for a round (setting MAINTENANCE_LOCATION_STALE_MINUTES)."""
    return dt.timedelta(minutes=getattr(settings, "MAINTENANCE_LOCATION_STALE_MINUTES", 60))


def map_url(floor_id, asset_id) -> str:
    return MAP_URL.format(floor_id=floor_id, asset_id=asset_id)


@dataclass
class Whereabouts:
    asset_id: int
    located: bool
    source: str  # "tag" (live), "installed" (fixed equipment), "stale" (tag, too old), "never" (never heard)
    floor_id: int | None = None
    floor_name: str = ""
    floor_level: int | None = None
    building: str = ""
    room_id: int | None = None
    room_number: str = ""
    room_name: str = ""
    last_seen_at: dt.datetime | None = None
    accuracy_m: float | None = None

    @property
    def map_url(self) -> str | None:
        return map_url(self.floor_id, self.asset_id) if self.floor_id else None

    @property
    def place(self) -> str:
        room = self.room_number or ("no room (between rooms)" if self.floor_id else "")
        return " · ".join(p for p in (room, self.floor_name) if p)

    @property
    def text(self) -> str:
        if self.source == "installed":
            return f"installed in {self.place}"
        if self.located:
            return self.place
        if self.source == "never" or self.last_seen_at is None:
            return "not located — never seen by the locator"
        where = f" in {self.place}" if self.place else ""
        return f"not located — last seen{where} {timesince(self.last_seen_at)} ago"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["last_seen_at"] = self.last_seen_at.isoformat() if self.last_seen_at else None
        d["text"] = self.text
        return d


FIELDS = (
    "pk", "tag__location__floor_id", "tag__location__floor__name", "tag__location__floor__level",
    "tag__location__floor__building__name", "tag__location__room_id", "tag__location__room__number",
    "tag__location__room__name", "tag__location__last_seen_at", "tag__location__accuracy_m", "tag__last_seen_at",
    "tag__id", "installed_room_id", "installed_room__number", "installed_room__name", "installed_room__floor_id",
    "installed_room__floor__name", "installed_room__floor__level", "installed_room__floor__building__name",
)


def whereabouts(asset_ids, now: dt.datetime | None = None) -> dict[int, Whereabouts]:
    now = now or timezone.now()
    limit = now - stale_after()
    out = {}
    for row in Asset.objects.filter(pk__in=list(asset_ids)).values_list(*FIELDS):
        (pk, floor_id, floor_name, level, building, room_id, number, name, seen, accuracy, tag_seen, tag_id,
         inst_id, inst_number, inst_name, inst_floor, inst_floor_name, inst_level, inst_building) = row
        if floor_id is not None:
            live = seen is not None and seen >= limit
            out[pk] = Whereabouts(pk, live, "tag" if live else "stale", floor_id, floor_name or "", level,
                                  building or "", room_id, number or "", name or "", seen, accuracy)
        elif inst_id is not None:
            out[pk] = Whereabouts(pk, True, "installed", inst_floor, inst_floor_name or "", inst_level,
                                  inst_building or "", inst_id, inst_number or "", inst_name or "", tag_seen)
        else:
            out[pk] = Whereabouts(pk, False, "never", last_seen_at=tag_seen)
    return out
