"""Load the generated demo hospital (``floorplans/`` + ``fixtures/demo/``) into the database.

Used by ``manage.py load_demo``. One transaction; bulk inserts and updates matched by natural keys
(asset type code, asset number, gateway id, sensor id, tag id, username), so running it again over
the same data changes nothing and over newer data updates what changed. Relative dates in the
fixtures (calibration "days ago" / "due in days") are turned into dates from ``today``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from hospital import roles
from hospital.assets.models import Asset, AssetType
from hospital.facility.floorplan import load_floorplans
from hospital.facility.models import Building, Department, Floor, Room, Site
from hospital.facility.services import ImportReport, import_floorplans
from locator.models import Tag, TagKind
from sensors.models import Gateway, Sensor

BATCH = 500


# BTHome v2 has no differential-pressure object: the demo's room-pressure monitors send it as a
# signed count (object 0x5A) in hundredths of a pascal (see docs/simulator.md).
PRESSURE_MAP = {"count": {"quantity": "differential_pressure_pa", "scale": 0.01}}


class DemoAlreadyLoaded(Exception):
    pass


@dataclass
class LoadReport:
    floorplans: ImportReport | None = None
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def count(self, kind: str, created: int, updated: int, unchanged: int) -> None:
        self.created[kind] += created
        self.updated[kind] += updated
        self.unchanged[kind] += unchanged


def read_items(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)["items"]


def upsert(model, key: str, rows: list[dict]) -> tuple[int, int, int]:
    """Create or update ``rows`` (dicts of model attribute values) matched on ``key``, in bulk."""
    existing = {getattr(o, key): o for o in model.objects.filter(**{f"{key}__in": [r[key] for r in rows]})}
    to_create, to_update, fields = [], [], set()
    now = timezone.now()
    for row in rows:
        obj = existing.get(row[key])
        if obj is None:
            to_create.append(model(**row))
            continue
        changed = [name for name, value in row.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, row[name])
            obj.updated_at = now  # bulk_update skips auto_now
            fields.update(changed)
            to_update.append(obj)
    model.objects.bulk_create(to_create, batch_size=BATCH)
    if to_update:
        model.objects.bulk_update(to_update, [*sorted(fields), "updated_at"], batch_size=BATCH)
    return len(to_create), len(to_update), len(rows) - len(to_create) - len(to_update)


class DemoLoader:
    def __init__(self, fixture_dir: Path, floorplan_dir: Path, *, today: dt.date | None = None):
        self.fixture_dir = Path(fixture_dir)
        self.floorplan_dir = Path(floorplan_dir)
        self.today = today or timezone.localdate()
        self.manifest = json.loads((self.fixture_dir / "manifest.json").read_text(encoding="utf-8"))
        self.report = LoadReport()

    def steps(self):
        """(name, callable) in load order; the command shows one progress tick per step."""
        return [
            ("floor plans", self.load_floorplans),
            ("asset types", self.load_asset_types),
            ("assets", self.load_assets),
            ("gateways", self.load_gateways),
            ("sensors", self.load_sensors),
            ("tags", self.load_tags),
            ("users", self.load_users),
            ("maintenance history", self.load_maintenance),
        ]

    def run(self, *, force: bool = False, progress=None) -> LoadReport:
        with transaction.atomic():
            if not force and Asset.objects.exists():
                raise DemoAlreadyLoaded(
                    f"The database already has {Asset.objects.count()} assets; load_demo only loads into a "
                    "database without equipment. Use --force to add or update the demo records in place "
                    "(nothing else is touched)."
                )
            steps = self.steps()
            for _name, step in progress(steps) if progress else steps:
                step()
        return self.report

    # --- steps ----------------------------------------------------------------------------------

    def load_floorplans(self):
        files = [self.floorplan_dir / name for name in self.manifest["floorplans"]]
        plans, warnings = load_floorplans(files)  # raises FloorPlanError naming every problem
        self.report.warnings += warnings
        self.report.floorplans = import_floorplans(plans)
        self.site = Site.objects.get(code=self.manifest["site"])
        self.building = Building.objects.get(site=self.site, code=self.manifest["building"])
        self.floors = {f.level: f for f in Floor.objects.filter(building=self.building)}
        self.rooms: dict[str, Room] = {}
        for room in Room.objects.filter(floor__building=self.building).select_related("floor"):
            if room.number in self.rooms:
                raise ValueError(
                    f"room number {room.number} is used on two floors; demo fixtures need unique numbers"
                )
            self.rooms[room.number] = room
        self.departments = {d.code: d for d in Department.objects.filter(site=self.site)}

    def load_asset_types(self):
        rows = read_items(self.fixture_dir / "asset_types.json")
        self.report.count("asset types", *upsert(AssetType, "code", rows))
        self.types = {t.code: t for t in AssetType.objects.filter(code__in=[r["code"] for r in rows])}

    def _room_id(self, number):
        return self.rooms[number].pk if number else None

    def load_assets(self):
        rows = []
        for item in read_items(self.fixture_dir / "assets.json"):
            rows.append(
                {
                    "asset_number": item["asset_number"],
                    "asset_type_id": self.types[item["asset_type"]].pk,
                    "manufacturer": item["manufacturer"],
                    "model": item["model"],
                    "serial_number": item["serial_number"],
                    "udi": item["udi"],
                    "home_department_id": self.departments[item["home_department"]].pk,
                    "installed_room_id": self._room_id(item["installed_room"]),
                    "status": item["status"],
                    "commissioned_on": dt.date.fromisoformat(item["commissioned_on"]),
                }
            )
        self.report.count("assets", *upsert(Asset, "asset_number", rows))
        self.assets = dict(
            Asset.objects.filter(asset_number__in=[r["asset_number"] for r in rows]).values_list(
                "asset_number", "pk"
            )
        )

    def load_gateways(self):
        rows = [
            {
                "gateway_id": item["gateway_id"],
                "site_id": self.site.pk,
                "floor_id": self.floors[item["floor"]].pk,
                "room_id": self._room_id(item["room"]),
                "x": item["x"],
                "y": item["y"],
                "z": item["z"],
            }
            for item in read_items(self.fixture_dir / "gateways.json")
        ]
        self.report.count("gateways", *upsert(Gateway, "gateway_id", rows))

    def load_sensors(self):
        rows = []
        for item in read_items(self.fixture_dir / "sensors.json"):
            rows.append(
                {
                    "sensor_id": item["sensor_id"],
                    "name": item["name"],
                    "mac_address": item["mac"],
                    "ble_format": item["ble_format"],
                    "bindkey": item["bindkey"],
                    "room_id": self._room_id(item["room"]),
                    "asset_id": self.assets[item["asset"]] if item["asset"] else None,
                    "profile": item["profile"],
                    "report_interval_s": item["report_interval_s"],
                    "calibrated_on": self.today - dt.timedelta(days=item["calibrated_days_ago"]),
                    "calibration_due_on": self.today + dt.timedelta(days=item["calibration_due_in_days"]),
                    "measurement_map": PRESSURE_MAP if "differential_pressure_pa" in item["quantities"] else {},
                }
            )
        self.report.count("sensors", *upsert(Sensor, "sensor_id", rows))

    def load_tags(self):
        rows = []
        for item in read_items(self.fixture_dir / "tags.json"):
            rows.append(
                {
                    "tag_id": item["tag_id"],
                    "kind": TagKind.IBEACON if item["kind"] == "ibeacon" else item["kind"],
                    "mac_address": item["mac"],
                    "asset_id": self.assets[item["asset"]] if item["asset"] else None,
                    "is_reference": item["is_reference"],
                    "ref_floor_id": self.floors[item["ref_floor"]].pk if item.get("ref_floor") else None,
                    "ref_x": item.get("ref_x"),
                    "ref_y": item.get("ref_y"),
                    "ref_z": item.get("ref_z"),
                }
            )
        self.report.count("tags", *upsert(Tag, "tag_id", rows))

    def load_users(self):
        User = get_user_model()
        if not Group.objects.filter(name__in=roles.ROLES).count() == len(roles.ROLES):
            roles.sync_roles()
        groups = {g.name: g for g in Group.objects.filter(name__in=roles.ROLES)}
        created = updated = unchanged = 0
        for item in read_items(self.fixture_dir / "users.json"):
            values = {k: item[k] for k in ("first_name", "last_name", "email", "is_staff", "is_superuser")}
            user = User.objects.filter(username=item["username"]).first()
            if user is None:
                user = User(username=item["username"], **values)
                user.set_password(item["password"])  # only on creation: a changed password is kept
                user.save()
                created += 1
            elif any(getattr(user, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(user, k, v)
                user.save(update_fields=list(values))
                updated += 1
            else:
                unchanged += 1
            group = groups[item["role"]]
            if not user.groups.filter(pk=group.pk).exists():
                user.groups.add(group)
        self.report.count("users", created, updated, unchanged)

    def load_maintenance(self):
        # Generated demo history (usage, past and pending work, a first forecast); see hospital/maintenance/demo.py.
        from hospital.maintenance.demo import generate_history

        for kind, n in generate_history(self.fixture_dir / "assets.json", today=self.today).items():
            self.report.count(f"maintenance {kind}", n, 0, 0)
