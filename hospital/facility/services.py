"""Writes to the facility model: importing checked floor plans into the database.

``import_floorplans`` takes ``FloorPlan`` objects already validated by ``hospital.facility.floorplan``
and creates or updates site, building, floors, departments, rooms and zones, matching by natural
keys (site code, building code, floor level, department code, room number, zone code). Everything
runs in one transaction: a failure leaves the database as it was.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .floorplan import FloorPlan, RoomSpec, ZoneSpec
from .models import Building, Department, Floor, Room, Site, Zone

KINDS = ("sites", "buildings", "floors", "departments", "rooms", "zones")


@dataclass
class ImportReport:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    not_in_file: Counter = field(default_factory=Counter)  # rooms/zones kept because --prune was not given

    def lines(self) -> list[str]:
        out = []
        for kind in KINDS:
            parts = [
                f"{self.created[kind]} created",
                f"{self.updated[kind]} updated",
                f"{self.unchanged[kind]} unchanged",
            ]
            if self.deleted[kind]:
                parts.append(f"{self.deleted[kind]} deleted")
            if self.not_in_file[kind]:
                parts.append(f"{self.not_in_file[kind]} not in the files (kept; --prune deletes them)")
            out.append(f"{kind}: " + ", ".join(parts))
        return out


def _polygon(points) -> list[list[float]]:
    return [[round(float(x), 3), round(float(y), 3)] for x, y in points]


def _apply(obj, values: dict) -> bool:
    """Set attributes that differ; True when anything changed."""
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


def _upsert_one(model, report: ImportReport, kind: str, lookup: dict, values: dict):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model.objects.create(**lookup, **values)
        report.created[kind] += 1
    elif _apply(obj, values):
        obj.save()
        report.updated[kind] += 1
    else:
        report.unchanged[kind] += 1
    return obj


def _sync_shapes(
    model, floor: Floor, specs: list, key: str, values_of, report: ImportReport, kind: str, prune: bool
):
    """Create/update/(prune) rooms or zones of one floor in bulk."""
    existing = {getattr(obj, key): obj for obj in model.objects.filter(floor=floor)}
    to_create, to_update, fields = [], [], set()
    for spec in specs:
        values = values_of(spec)
        obj = existing.pop(getattr(spec, key), None)
        if obj is None:
            obj = model(floor=floor, **{key: getattr(spec, key)}, **values)
            obj.compute_geometry()
            to_create.append(obj)
        elif _apply(obj, values):
            obj.compute_geometry()
            obj.updated_at = timezone.now()  # bulk_update does not run auto_now
            fields.update(values)
            to_update.append(obj)
        else:
            report.unchanged[kind] += 1
    if to_create:
        model.objects.bulk_create(to_create)
        report.created[kind] += len(to_create)
    if to_update:
        model.objects.bulk_update(
            to_update, [*sorted(fields), "centroid_x", "centroid_y", "area_m2", "updated_at"]
        )
        report.updated[kind] += len(to_update)
    if existing:
        if prune:
            model.objects.filter(pk__in=[obj.pk for obj in existing.values()]).delete()
            report.deleted[kind] += len(existing)
        else:
            report.not_in_file[kind] += len(existing)


@transaction.atomic
def import_floorplans(plans: list[FloorPlan], *, prune: bool = False, progress=None) -> ImportReport:
    """Create or update everything the plans describe; one transaction for all of them."""
    report = ImportReport()
    sites: dict[str, Site] = {}
    buildings: dict[tuple, Building] = {}
    departments: dict[tuple, Department] = {}
    for plan in progress(plans) if progress else plans:
        site = sites.get(plan.site)
        if site is None:
            values = {"name": plan.site_name}
            if plan.site_timezone:
                values["timezone"] = plan.site_timezone
            site = sites[plan.site] = _upsert_one(Site, report, "sites", {"code": plan.site}, values)
        building = buildings.get((plan.site, plan.building))
        if building is None:
            building = buildings[(plan.site, plan.building)] = _upsert_one(
                Building,
                report,
                "buildings",
                {"site": site, "code": plan.building},
                {"name": plan.building_name},
            )
        floor_values = {
            "name": plan.name,
            "elevation_m": plan.elevation_m,
            "plan_svg": plan.svg,
            "metres_per_unit": plan.metres_per_unit,
            "origin_x": plan.origin[0],
            "origin_y": plan.origin[1],
            "width_m": plan.width_m,
            "depth_m": plan.depth_m,
        }
        if plan.height_m is not None:
            floor_values["height_m"] = plan.height_m
        floor = _upsert_one(
            Floor, report, "floors", {"building": building, "level": plan.level}, floor_values
        )

        codes = list(dict.fromkeys([*plan.departments, *(r.department for r in plan.rooms if r.department)]))
        for code in codes:
            if (plan.site, code) in departments:
                continue
            named = code in plan.departments
            dept = Department.objects.filter(site=site, code=code).first()
            if dept is None:
                dept = Department.objects.create(site=site, code=code, name=plan.departments.get(code, code))
                report.created["departments"] += 1
            elif named and dept.name != plan.departments[code]:
                dept.name = plan.departments[code]
                dept.save(update_fields=["name", "updated_at"])
                report.updated["departments"] += 1
            else:
                report.unchanged["departments"] += 1
            departments[(plan.site, code)] = dept

        def room_values(spec: RoomSpec, site_code=plan.site):
            dept = departments[(site_code, spec.department)] if spec.department else None
            return {
                "name": spec.name,
                "room_type": spec.room_type,
                "department_id": dept.pk if dept else None,
                "polygon": _polygon(spec.polygon),
            }

        def zone_values(spec: ZoneSpec):
            return {"name": spec.name, "kind": spec.kind, "polygon": _polygon(spec.polygon)}

        _sync_shapes(Room, floor, plan.rooms, "number", room_values, report, "rooms", prune)
        _sync_shapes(Zone, floor, plan.zones, "code", zone_values, report, "zones", prune)
    return report
