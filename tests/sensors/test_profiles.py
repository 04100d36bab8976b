"""Monitoring profiles: the shipped data matches the standards, and bad data fails clearly."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sensors.alarms.profiles import (
    DEFAULT_PATH,
    QUANTITIES,
    ProfileError,
    load_profiles,
    parse_profiles,
)

REQUIRED = {
    "vaccine_fridge", "vaccine_freezer", "ultra_cold_freezer", "blood_fridge", "platelet_incubator",
    "plasma_freezer", "pharmacy_crt", "operating_room", "isolation_room_negative",
    "protective_environment_positive", "patient_room", "sterile_storage", "waiting_area",
}


@pytest.fixture(scope="module")
def cat():
    return load_profiles()


@pytest.fixture
def doc():
    return json.loads(DEFAULT_PATH.read_text())


def limits(profile, quantity):
    """(lowest 'low' threshold, highest 'high' threshold) of a quantity: the outer limits."""
    lows = [r.threshold for r in profile.rules if r.quantity == quantity and r.kind == "low"]
    highs = [r.threshold for r in profile.rules if r.quantity == quantity and r.kind == "high"]
    return (min(lows) if lows else None, max(highs) if highs else None)


def warnings(profile, quantity):
    """(highest low threshold, lowest high threshold): where the first warning sounds."""
    lows = [r.threshold for r in profile.rules if r.quantity == quantity and r.kind == "low"]
    highs = [r.threshold for r in profile.rules if r.quantity == quantity and r.kind == "high"]
    return (max(lows) if lows else None, min(highs) if highs else None)


def test_shipped_profiles_load_and_cover_the_required_set(cat):
    assert REQUIRED <= set(cat.profiles)
    for p in cat:
        assert p.name and p.description and p.quantities
        for r in p.rules:
            assert r.source, f"{p.slug}/{r.id} has no source"
            assert r.priority in {"high", "medium", "low"}
        assert {"sensor_offline", "battery_low", "calibration_overdue"} <= set(p.rule_ids)


def test_thresholds_follow_the_standards(cat):
    g = cat.get
    assert warnings(g("vaccine_fridge"), "temperature_c") == (2.0, 8.0)  # CDC
    assert warnings(g("vaccine_freezer"), "temperature_c") == (-50.0, -15.0)  # CDC
    assert limits(g("ultra_cold_freezer"), "temperature_c") == (-90.0, -60.0)
    assert limits(g("blood_fridge"), "temperature_c") == (1.0, 6.0)  # AABB, warnings inside the range
    assert warnings(g("blood_fridge"), "temperature_c") == (1.5, 5.5)
    assert limits(g("platelet_incubator"), "temperature_c") == (20.0, 24.0)
    assert limits(g("plasma_freezer"), "temperature_c") == (None, -18.0)
    assert warnings(g("pharmacy_crt"), "temperature_c") == (20.0, 25.0)  # USP CRT
    assert warnings(g("operating_room"), "temperature_c") == (20.0, 24.0)  # ASHRAE 170
    assert limits(g("operating_room"), "humidity_pct") == (20.0, 60.0)
    assert limits(g("operating_room"), "differential_pressure_pa") == (2.5, None)
    assert limits(g("isolation_room_negative"), "differential_pressure_pa") == (None, -2.5)
    assert limits(g("protective_environment_positive"), "differential_pressure_pa") == (2.5, None)
    assert warnings(g("patient_room"), "temperature_c") == (21.0, 24.0)
    assert limits(g("patient_room"), "humidity_pct") == (None, 60.0)
    assert limits(g("sterile_storage"), "temperature_c") == (None, 24.0)
    assert limits(g("sterile_storage"), "humidity_pct") == (None, 60.0)
    assert warnings(g("waiting_area"), "co2_ppm") == (None, 1000.0)
    assert limits(g("waiting_area"), "co2_ppm") == (None, 2000.0)
    pm = g("waiting_area").rule("pm25_24h_high")
    assert (pm.threshold, pm.average_s) == (15.0, 86400.0)  # WHO 2021: 24-hour mean
    assert "CDC" in g("vaccine_fridge").rule("temperature_high").source
    assert "AABB" in g("blood_fridge").rule("temperature_high_critical").source
    assert "170" in g("isolation_room_negative").rule("pressure_not_negative").source


def test_graded_vaccine_fridge_limits(cat):
    p = cat.get("vaccine_fridge")
    warn = p.rule("temperature_high")
    assert warn.priority == "medium" and 900 <= warn.on_delay_s <= 1800  # door openings do not alarm
    severe = [r for r in p.rules if r.quantity == "temperature_c" and r.kind == "high" and r.priority == "high"]
    assert severe and all(r.threshold > warn.threshold or r.on_delay_s > warn.on_delay_s for r in severe)
    assert all(r.deadband > 0 and r.off_delay_s > 0 and r.realarm_s > 0 for r in p.rules if r.quantity == "temperature_c")


def test_mkt_windows_defrost_and_door_grace(cat):
    day, month = 86400.0, 30 * 86400.0
    for slug in ("vaccine_fridge", "vaccine_freezer", "blood_fridge", "plasma_freezer", "ultra_cold_freezer"):
        assert cat.get(slug).mkt_window_s == day
        assert cat.get(slug).mkt_dh_r_k == 10_000
    assert cat.get("pharmacy_crt").mkt_window_s == month
    assert cat.get("vaccine_freezer").defrost and cat.get("vaccine_freezer").defrost_rules == {"temperature_high"}
    assert cat.get("plasma_freezer").defrost
    assert cat.get("isolation_room_negative").door_grace_s > 0
    assert "pressure_not_negative" in cat.get("isolation_room_negative").door_grace_rules
    assert cat.get("vaccine_fridge").door_grace_s == 0


def test_room_and_equipment_mappings(cat):
    from hospital.facility.choices import RoomType

    assert set(cat.room_types) <= {c.value for c in RoomType}
    for rt in ("patient_room", "icu_bay", "operating_room", "isolation_room", "protective_environment",
               "pharmacy", "medication_room", "blood_bank", "sterile_storage", "waiting_area", "laboratory"):
        assert cat.for_room_type(rt) is not None, rt
    assert cat.for_room_type("isolation_room").slug == "isolation_room_negative"
    assert cat.for_room_type("corridor") is None
    expected = {
        "vaccine_refrigerator": "vaccine_fridge", "vaccine_freezer": "vaccine_freezer",
        "blood_bank_refrigerator": "blood_fridge", "plasma_freezer": "plasma_freezer",
        "platelet_incubator": "platelet_incubator", "ultra_low_freezer": "ultra_cold_freezer",
    }
    for eq, slug in expected.items():
        assert cat.for_equipment_type(eq).slug == slug
    assert cat.for_equipment_type("pharmacy_refrigerator") is not None


def test_vocabulary_matches_the_django_choices():
    from sensors.choices import Quantity

    assert {q.value for q in Quantity} == set(QUANTITIES)


def test_the_alarm_core_does_not_import_django():
    code = (
        "import sys; import sensors.alarms, sensors.alarms.replay, sensors.alarms.statemachine; "
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')], 'django imported'"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------- validation errors


def errors_of(doc):
    with pytest.raises(ProfileError) as exc:
        parse_profiles(doc)
    return exc.value.errors, str(exc.value)


def test_bad_priority_names_profile_and_rule(doc):
    doc["profiles"]["vaccine_fridge"]["rules"][0]["priority"] = "urgent"
    errors, text = errors_of(doc)
    assert errors == [
        "profile 'vaccine_fridge', rule 'temperature_high': priority must be one of high, medium, low (got 'urgent')"
    ]
    assert "invalid monitoring profiles" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(quantity="temperature"), "unknown quantity 'temperature'"),
        (lambda r: r.update(quantity="humidity_pct"), "quantity 'humidity_pct' is not among the profile's quantities"),
        (lambda r: r.update(kind="above"), "kind must be 'high' or 'low'"),
        (lambda r: r.pop("threshold"), "missing 'threshold'"),
        (lambda r: r.update(threshold="8"), "threshold must be a finite number"),
        (lambda r: r.update(on_delay_s=-1), "on_delay_s must be >= 0"),
        (lambda r: r.update(deadband=-0.5), "deadband must be >= 0"),
        (lambda r: r.pop("source"), "missing 'source'"),
        (lambda r: r.update(treshold=8), "unknown field(s) treshold"),
    ],
)
def test_rule_errors(doc, change, message):
    change(doc["profiles"]["vaccine_fridge"]["rules"][0])
    errors, _ = errors_of(doc)
    assert any(e.startswith("profile 'vaccine_fridge', rule 'temperature_high': ") and message in e for e in errors), errors


def test_profile_level_errors_are_all_collected(doc):
    p = doc["profiles"]["vaccine_freezer"]
    p["rules"].append(copy.deepcopy(p["rules"][0]))  # duplicate id
    p["defrost"]["windows"][0]["start"] = "25:00"
    p["defrost"]["rules"] = ["temperature_hi"]
    doc["profiles"]["isolation_room_negative"]["door_grace"]["rules"] = ["nope"]
    doc["profiles"]["patient_room"]["quantities"].append("smell")
    doc["equipment_types"]["vaccine_freezer"] = "deep_freezer"
    doc["profiles"]["Bad Slug"] = doc["profiles"]["patient_room"]
    errors, _ = errors_of(doc)
    wanted = [
        "profile 'vaccine_freezer', rule 'temperature_high': duplicate rule id",
        "profile 'vaccine_freezer', defrost.windows[0]: start must be local time HH:MM (got '25:00')",
        "profile 'vaccine_freezer', rule 'temperature_hi': named in defrost.rules but not defined in the profile",
        "profile 'isolation_room_negative', rule 'nope': named in door_grace.rules but not defined in the profile",
        "profile 'patient_room': unknown quantity 'smell'",
        "equipment_types 'vaccine_freezer': refers to unknown profile 'deep_freezer'",
        "profile 'Bad Slug': profile slug must be lower-case letters, digits and underscores",
    ]
    for w in wanted:
        assert any(e.startswith(w) for e in errors), (w, errors)


def test_inverted_limits_are_rejected(doc):
    doc["profiles"]["blood_fridge"]["rules"][0]["threshold"] = 0.5  # high below the low limits
    errors, _ = errors_of(doc)
    assert any("profile 'blood_fridge', rule 'temperature_high': high threshold 0.5 is below low rule" in e
               for e in errors)


def test_system_rule_override_and_bad_system_rule(doc):
    doc["profiles"]["vaccine_fridge"]["rules"].append(
        {"id": "sensor_offline", "quantity": "missed_intervals", "kind": "high", "threshold": 2, "priority": "high",
         "source": "site policy"}
    )
    cat = parse_profiles(doc)
    offline = cat.get("vaccine_fridge").rule("sensor_offline")
    assert (offline.threshold, offline.priority) == (2, "high")
    assert cat.get("patient_room").rule("sensor_offline").threshold == 3
    doc["system_rules"][1]["kind"] = "sideways"
    errors, _ = errors_of(doc)
    assert any(e.startswith("system_rules, rule 'battery_low': kind must be") for e in errors)


def test_bad_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profiles(f)
    with pytest.raises(ProfileError, match="profiles: must be a non-empty object"):
        parse_profiles({"version": 1})
    with pytest.raises(ProfileError, match="unsupported version"):
        parse_profiles({"version": 2, "profiles": json.loads(DEFAULT_PATH.read_text())["profiles"]})
    with pytest.raises(KeyError, match="unknown monitoring profile 'nope'"):
        load_profiles().get("nope")
