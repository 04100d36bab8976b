"""A sensor's effective monitoring profile.

The catalog (``fixtures/monitoring_profiles.json`` via ``sensors.alarms.profiles``) is the source of
the limits. A sensor gets, in this order: the profile of its override, its own ``profile`` slug, the
profile of its equipment's type (asset type code), the profile of its room's type. A facility
manager's override may also change single rules (threshold, deadband, delays, re-alarm, priority);
the result is a new ``Profile`` whose slug names the sensor (``vaccine_fridge~env-1``), so a restored
evaluator state can be matched to it.

Gateways are watched with a small built-in profile (one rule, ``gateway_offline``).
"""

from __future__ import annotations

import dataclasses
import math

from django.conf import settings

from sensors.alarms import LimitRule, Priority, Profile, ProfileCatalog, default_catalog

# Override fields, with their type and lower bound.
RULE_FIELDS: dict[str, tuple[type, float | None]] = {
    "threshold": (float, None),
    "deadband": (float, 0.0),
    "on_delay_s": (float, 0.0),
    "off_delay_s": (float, 0.0),
    "realarm_s": (float, 0.0),
    "priority": (str, None),
}
GATEWAY_RULE = "gateway_offline"
GATEWAY_PROFILE_SLUG = "gateway"


def catalog() -> ProfileCatalog:
    return default_catalog()


def sensor_room(sensor):
    """The room a sensor is in: its own, or the room its equipment is installed in."""
    if sensor.room_id:
        return sensor.room
    asset = sensor.asset if sensor.asset_id else None
    return asset.installed_room if asset is not None and asset.installed_room_id else None


def sensor_site(sensor):
    room = sensor_room(sensor)
    return room.floor.building.site if room is not None else None


def base_profile(sensor, cat: ProfileCatalog | None = None) -> tuple[Profile | None, str]:
    """The profile a sensor gets without any override, and where it came from."""
    cat = cat or catalog()
    if sensor.profile and sensor.profile in cat:
        return cat.get(sensor.profile), "sensor"
    if sensor.asset_id:
        p = cat.for_equipment_type(sensor.asset.asset_type.code)
        if p is not None:
            return p, f"equipment type {sensor.asset.asset_type.code}"
    room = sensor_room(sensor)
    if room is not None:
        p = cat.for_room_type(room.room_type)
        if p is not None:
            return p, f"room type {room.room_type}"
    return None, "none"


def get_override(sensor):
    from .models import SensorProfileOverride

    try:
        return sensor.profile_override
    except SensorProfileOverride.DoesNotExist:
        return None


def validate_rules(profile: Profile, rules: dict) -> list[str]:
    """Problems with a rule override for ``profile`` (empty list: fine)."""
    errors: list[str] = []
    if not isinstance(rules, dict):
        return ["rule overrides must be an object keyed by rule id"]
    for rid, fields in rules.items():
        if rid not in profile.rule_ids:
            errors.append(f"rule {rid!r}: not a rule of profile {profile.slug!r}")
            continue
        if not isinstance(fields, dict):
            errors.append(f"rule {rid!r}: must be an object of fields")
            continue
        for name, value in fields.items():
            if name not in RULE_FIELDS:
                errors.append(f"rule {rid!r}: {name!r} cannot be overridden ({', '.join(RULE_FIELDS)})")
                continue
            typ, lower = RULE_FIELDS[name]
            if typ is str:
                if value not in {p.value for p in Priority}:
                    errors.append(f"rule {rid!r}: priority must be high, medium or low")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                errors.append(f"rule {rid!r}: {name} must be a number")
            elif lower is not None and value < lower:
                errors.append(f"rule {rid!r}: {name} must be >= {lower:g}")
        if not errors:
            rule = apply_rule(profile.rule(rid), fields)
            if rule.quantity == "missed_intervals" and rule.clear_threshold < 0:
                errors.append(f"rule {rid!r}: deadband must be below the threshold (missed intervals never go below 0)")
    return errors


def apply_rule(rule: LimitRule, fields: dict) -> LimitRule:
    changes = {}
    for name, value in fields.items():
        if name == "priority":
            changes[name] = Priority(value)
        elif name in RULE_FIELDS:
            changes[name] = float(value)
    return dataclasses.replace(rule, **changes) if changes else rule


def effective_profile(sensor, cat: ProfileCatalog | None = None, override=...) -> Profile | None:
    """The profile the alarm service watches ``sensor`` with (None: not monitored)."""
    cat = cat or catalog()
    if override is ...:
        override = get_override(sensor)
    profile = None
    if override is not None and override.profile:
        profile = cat.profiles.get(override.profile)
    if profile is None:
        profile, _ = base_profile(sensor, cat)
    if profile is None:
        return None
    rules = (override.rules if override is not None else None) or {}
    rules = {rid: f for rid, f in rules.items() if rid in profile.rule_ids and isinstance(f, dict) and f}
    if not rules:
        return profile
    new_rules = tuple(apply_rule(r, rules[r.id]) if r.id in rules else r for r in profile.rules)
    return dataclasses.replace(profile, slug=f"{profile.slug}~{sensor.sensor_id}", rules=new_rules)


def profile_config(sensor, cat: ProfileCatalog | None = None) -> dict:
    """What the monitoring of a sensor is, as audit data (before/after of a ProfileChange)."""
    override = get_override(sensor)
    profile = effective_profile(sensor, cat, override)
    return {
        "sensor_profile": sensor.profile,
        "override_profile": override.profile if override else "",
        "rule_overrides": (override.rules if override else {}) or {},
        "effective_profile": profile.slug if profile else None,
        "report_interval_s": sensor.report_interval_s,
        "calibration_due_on": sensor.calibration_due_on.isoformat() if sensor.calibration_due_on else None,
    }


def gateway_profile() -> Profile:
    """Silence of a gateway is an alarm: its MQTT last will (status offline), or nothing heard from it
    for ``ALARM_GATEWAY_OFFLINE_AFTER_S``. The on-delay rides out a quick reconnect."""
    rule = LimitRule(
        id=GATEWAY_RULE, quantity=GATEWAY_RULE, kind="high", threshold=0.5,
        priority=Priority(getattr(settings, "ALARM_GATEWAY_OFFLINE_PRIORITY", "medium")),
        deadband=0.0, on_delay_s=float(getattr(settings, "ALARM_GATEWAY_OFFLINE_DELAY_S", 60)), off_delay_s=0.0,
        realarm_s=3600.0,
        source="Silence is an alarm (ISA-18.2 diagnostic alarm): the gateway's MQTT last will, or no status "
        "and no data for too long",
        message="Gateway offline: the sensors in its room are not being heard",
    )
    return Profile(slug=GATEWAY_PROFILE_SLUG, name="Room gateway", description="A room gateway's connection.",
                   quantities=(), rules=(rule,))


def rule_limits(profile: Profile | None, quantity: str) -> list[LimitRule]:
    """The limit rules of a profile on one quantity (for charts and reports)."""
    if profile is None:
        return []
    return [r for r in profile.rules if r.quantity == quantity]
