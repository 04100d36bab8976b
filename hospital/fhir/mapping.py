"""Models to FHIR R4 JSON. Pure functions over instances whose relations are already loaded.

Identifiers use URN systems (no public host is implied); a deployment that has its own identifier
namespaces can change the constants. Location ids carry their kind (``room-12``, ``floor-3``,
``building-1``, ``site-1``) because one FHIR type stands for four tables.
"""

from __future__ import annotations

import re

from hospital.assets.choices import AssetStatus

ASSET_NUMBER_SYSTEM = "urn:hospital:asset-number"
SERIAL_NUMBER_SYSTEM = "urn:hospital:serial-number"
ASSET_TYPE_SYSTEM = "urn:hospital:asset-type"
ROOM_NUMBER_SYSTEM = "urn:hospital:room-number"
ROOM_TYPE_SYSTEM = "urn:hospital:room-type"
PHYSICAL_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"

# FHIR Device.status is about the record and the device's use, not about cleaning or whereabouts:
# usable equipment is active, equipment taken out of use is inactive. The local status is kept in
# Device.statusReason as text.
DEVICE_STATUS = {
    AssetStatus.AVAILABLE: "active",
    AssetStatus.IN_USE: "active",
    AssetStatus.NEEDS_CLEANING: "active",
    AssetStatus.IN_MAINTENANCE: "inactive",
    AssetStatus.OUT_OF_SERVICE: "inactive",
    AssetStatus.MISSING: "inactive",
}

# kind in the id -> (FHIR physicalType code, display)
PHYSICAL_TYPES = {
    "site": ("si", "Site"),
    "building": ("bu", "Building"),
    "floor": ("lvl", "Level"),
    "room": ("ro", "Room"),
}
LOCATION_ID = re.compile(r"^(site|building|floor|room)-([1-9][0-9]{0,17})$")


def parse_location_id(value: str) -> tuple[str, int] | None:
    """``"room-12"`` -> ``("room", 12)``; also accepts ``"Location/room-12"``; None when malformed."""
    if value.startswith("Location/"):
        value = value[len("Location/"):]
    match = LOCATION_ID.match(value)
    return (match.group(1), int(match.group(2))) if match else None


def _instant(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def location_ref(kind: str, obj) -> dict:
    return {"reference": f"Location/{kind}-{obj.pk}", "display": location_name(kind, obj)}


def location_name(kind: str, obj) -> str:
    if kind == "room":
        return f"{obj.number} {obj.name}".strip()
    return obj.name


def _physical_type(kind: str) -> dict:
    code, display = PHYSICAL_TYPES[kind]
    return {"coding": [{"system": PHYSICAL_TYPE_SYSTEM, "code": code, "display": display}], "text": display}


def location(kind: str, obj) -> dict:
    """A site, building, floor or room as a FHIR Location (partOf points one level up)."""
    resource = {
        "resourceType": "Location",
        "id": f"{kind}-{obj.pk}",
        "meta": {"lastUpdated": _instant(obj.updated_at)},
        "status": "active",
        "name": location_name(kind, obj),
        "mode": "instance",
        "physicalType": _physical_type(kind),
    }
    if kind == "site":
        resource["identifier"] = [{"system": "urn:hospital:site", "value": obj.code}]
        if obj.address:
            resource["address"] = {"text": obj.address}
    elif kind == "building":
        resource["identifier"] = [{"system": f"urn:hospital:site:{obj.site.code}:building", "value": obj.code}]
        resource["partOf"] = location_ref("site", obj.site)
    elif kind == "floor":
        resource["description"] = f"{obj.building.name}, level {obj.level}"
        resource["partOf"] = location_ref("building", obj.building)
    else:
        resource["identifier"] = [{"system": ROOM_NUMBER_SYSTEM, "value": obj.number}]
        if obj.name:
            resource["alias"] = [obj.number]
        resource["type"] = [{
            "coding": [{"system": ROOM_TYPE_SYSTEM, "code": obj.room_type, "display": obj.get_room_type_display()}],
            "text": obj.get_room_type_display(),
        }]
        resource["partOf"] = location_ref("floor", obj.floor)
        if obj.department is not None:
            resource["managingOrganization"] = {"display": obj.department.name}
    return resource


def device_location(asset) -> dict | None:
    """Reference to where the asset is now: its tag's room (or floor), else the room it is installed in."""
    tag = getattr(asset, "tag", None)
    current = getattr(tag, "location", None) if tag is not None else None
    if current is not None:
        if current.room is not None:
            return location_ref("room", current.room)
        if current.floor is not None:
            return location_ref("floor", current.floor)
    if asset.installed_room is not None:
        return location_ref("room", asset.installed_room)
    return None


def device(asset) -> dict:
    kind = asset.asset_type
    identifiers = [{"use": "official", "type": {"text": "Asset number"}, "system": ASSET_NUMBER_SYSTEM,
                    "value": asset.asset_number}]
    if asset.serial_number:
        identifiers.append({
            "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "SNO", "display": "Serial Number"}],
                     "text": "Serial number"},
            "system": SERIAL_NUMBER_SYSTEM, "value": asset.serial_number,
        })
    names = [{"name": f"{kind.name} {asset.asset_number}", "type": "user-friendly-name"}]
    if asset.model:
        names.append({"name": asset.model, "type": "model-name"})
    resource = {
        "resourceType": "Device",
        "id": str(asset.pk),
        "meta": {"lastUpdated": _instant(asset.updated_at)},
        "identifier": identifiers,
        "status": DEVICE_STATUS.get(asset.status, "unknown"),
        "statusReason": [{"text": asset.get_status_display()}],
        "manufacturer": asset.manufacturer,
        "deviceName": names,
        "modelNumber": asset.model,
        "serialNumber": asset.serial_number,
        "type": {"coding": [{"system": ASSET_TYPE_SYSTEM, "code": kind.code, "display": kind.name}], "text": kind.name},
    }
    if asset.udi:
        resource["udiCarrier"] = [{"carrierHRF": asset.udi}]
    if asset.home_department is not None:
        resource["owner"] = {"display": asset.home_department.name}
    where = device_location(asset)
    if where is not None:
        resource["location"] = where
    # FHIR forbids empty strings: leave out what the inventory does not know.
    return {key: value for key, value in resource.items() if value != ""}


ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               406: "not-supported", 415: "not-supported", 429: "throttled"}


def operation_outcome(status: int, diagnostics: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error" if status < 500 else "fatal",
            "code": ISSUE_CODES.get(status, "exception"),
            "diagnostics": diagnostics,
        }],
    }


def searchset(entries: list[tuple[str, dict]], total: int, links: dict[str, str]) -> dict:
    """A searchset Bundle of ``(fullUrl, resource)`` pairs."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if links:
        bundle["link"] = [{"relation": relation, "url": url} for relation, url in links.items()]
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = [
            {"fullUrl": url, "resource": resource, "search": {"mode": "match"}} for url, resource in entries
        ]
    return bundle
