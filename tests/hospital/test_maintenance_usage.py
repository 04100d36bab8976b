"""Usage from real signals: derivation from constructed location history (patient rooms count, storage does
not; motion rules; dwell; gaps), and the all-or-nothing CSV import with line-numbered errors."""

import datetime as dt
from io import StringIO

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from hospital.maintenance.models import DailyUsage, UsagePeriod, UsageRule
from hospital.maintenance.usage import derive_usage, peak_concurrency, split_by_day
from hospital.maintenance.usage_sync import derive_from_locator, import_usage_csv
from locator.models import CurrentLocation, LocationHistory

from .test_maintenance_fixtures import *  # noqa: F403

RULES = pd.DataFrame([
    {"room_type": "patient_room", "asset_category": "", "mode": "presence", "min_dwell_minutes": 10},
    {"room_type": "equipment_storage", "asset_category": "", "mode": "ignore", "min_dwell_minutes": 0},
    {"room_type": "corridor", "asset_category": "", "mode": "ignore", "min_dwell_minutes": 0},
    {"room_type": "corridor", "asset_category": "mobility", "mode": "motion", "min_dwell_minutes": 0},
])
T0 = pd.Timestamp("2025-03-03 08:00", tz="UTC")


def rows(asset, room_id, room_type, start_min, end_min, first_reason="room", step=5, reason="heartbeat"):
    """History rows every ``step`` minutes from start to end (exclusive), like the locator's heartbeat."""
    out = []
    for i, m in enumerate(range(start_min, end_min, step)):
        out.append((asset, T0 + pd.Timedelta(minutes=m), room_id, room_type, first_reason if i == 0 else reason))
    return out


def frame(*parts):
    return pd.DataFrame([r for p in parts for r in p], columns=["asset_id", "t", "room_id", "room_type", "reason"])


def seen(asset, minutes):
    return pd.DataFrame({"asset_id": [asset], "last_seen": [T0 + pd.Timedelta(minutes=minutes)]})


def test_hours_in_patient_rooms_count_and_storage_does_not():
    h = frame(rows(1, 2, "equipment_storage", 0, 60, "floor"), rows(1, 1, "patient_room", 60, 180),
              rows(1, 2, "equipment_storage", 180, 300))
    r = derive_usage(h, RULES, "2025-03-03", "2025-03-04", last_seen=seen(1, 300))
    assert r.daily.to_dict("records") == [{"asset_id": 1, "date": pd.Timestamp("2025-03-03"), "hours": 2.0}]
    [p] = r.periods.to_dict("records")
    assert (p["start"], p["end"], p["room_id"], p["mode"]) == (T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=3),
                                                               1.0, "presence")


def test_a_short_stay_is_passing_through_and_an_unheard_tag_is_not_in_use():
    h = frame(rows(1, 1, "patient_room", 0, 5), rows(1, 3, "corridor", 5, 10),  # 5 min: carried through
              rows(2, 1, "patient_room", 0, 1, step=1))  # one row, then silence for 6 hours
    r = derive_usage(h, RULES, "2025-03-03", "2025-03-04", last_seen=seen(2, 360), max_gap_minutes=15)
    daily = r.daily.set_index("asset_id")["hours"]
    assert daily[1] == 0.0  # heard, not used: a zero row, not a missing one
    assert daily[2] == pytest.approx(0.25, abs=1e-3)  # credited up to the gap limit only


def test_motion_rules_count_moving_time_for_their_category_only():
    h = frame(rows(1, 3, "corridor", 0, 30, reason="moved"), rows(2, 3, "corridor", 0, 30, reason="moved"),
              rows(3, 3, "corridor", 0, 30, reason="heartbeat"))
    assets = pd.DataFrame({"asset_id": [1, 2, 3], "category": ["mobility", "infusion", "mobility"]})
    r = derive_usage(h, RULES, "2025-03-03", "2025-03-04", assets=assets, last_seen=seen(1, 30),
                     motion_credit_minutes=5)
    daily = r.daily.set_index("asset_id")["hours"]
    assert daily[1] == pytest.approx(0.5, abs=1e-3)  # a wheelchair rolling down the corridor
    assert daily[2] == 0.0  # a pump carried down the corridor
    assert daily[3] == pytest.approx(5 / 60, abs=1e-3)  # parked after its first (room) row: only that movement counts
    # A movement-counter event turns a heartbeat segment into a moving one.
    motion = pd.DataFrame({"asset_id": [3], "t": [T0 + pd.Timedelta(minutes=12)]})
    r2 = derive_usage(h, RULES, "2025-03-03", "2025-03-04", assets=assets, motion=motion)
    assert r2.daily.set_index("asset_id")["hours"][3] == pytest.approx(10 / 60, abs=1e-3)


def test_periods_split_at_local_midnight():
    s = pd.to_datetime(["2025-03-03 22:00"]).to_numpy("datetime64[ns]")
    e = pd.to_datetime(["2025-03-04 03:00"]).to_numpy("datetime64[ns]")
    d = split_by_day([7], s, e, "Europe/London")
    assert d["hours"].tolist() == [2.0, 3.0]
    d = split_by_day([7], s, e, "Europe/Berlin")  # UTC+1: 23:00 to 04:00 local
    assert d["hours"].tolist() == [1.0, 4.0]


def test_peak_concurrency_counts_overlaps_per_group_and_not_hand_overs():
    t = pd.Timestamp("2025-03-03 08:00", tz="UTC")
    h = pd.Timedelta(hours=1)
    p = pd.DataFrame({"group": ["pump", "pump", "pump", "pump", "bed"], "asset_id": [1, 2, 3, 4, 5],
                      "start": [t, t + h, t + 2 * h, t + 2 * h, t], "end": [t + 2 * h, t + 3 * h, t + 4 * h, t + 3 * h,
                                                                           t + h]})
    peaks = peak_concurrency(p)
    assert peaks.loc["pump", "peak"] == 3  # 1 ends as 3 and 4 start: 2, 3, 4 overlap
    assert peaks.loc["pump", "peak_at"] == t + 2 * h
    assert peaks.loc["bed", "peak"] == 1 and peaks.loc["pump", "assets_used"] == 4


@pytest.mark.django_db
def test_derivation_from_the_location_history_in_the_database(world):
    """TEST DATA: a pump 2 h in a patient room and 3 h in storage; a wheelchair moving in a corridor."""
    pump, chair = world["pumps"][0], world["chairs"][0]
    from locator.models import Tag

    Tag.objects.create(tag_id="test-tag-w1", kind="mac", asset=chair)
    tz = timezone.get_current_timezone()
    day = timezone.localdate() - dt.timedelta(days=1)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time(9)), tz)
    r = world["rooms"]
    hist = []
    for m in range(0, 120, 5):
        hist.append(LocationHistory(tag=pump.tag, t=start + dt.timedelta(minutes=m), floor=r["patient"].floor,
                                    room=r["patient"], x=1, y=1, accuracy_m=2, reason="room" if m == 0 else "heartbeat"))
    for m in range(120, 300, 5):
        hist.append(LocationHistory(tag=pump.tag, t=start + dt.timedelta(minutes=m), floor=r["storage"].floor,
                                    room=r["storage"], x=6, y=1, accuracy_m=2, reason="room" if m == 120 else "heartbeat"))
    for m in range(0, 20, 5):
        hist.append(LocationHistory(tag=chair.tag, t=start + dt.timedelta(minutes=m), floor=r["corridor"].floor,
                                    room=r["corridor"], x=3, y=3, accuracy_m=2, reason="moved"))
    LocationHistory.objects.bulk_create(hist)
    CurrentLocation.objects.create(tag=pump.tag, floor=r["storage"].floor, room=r["storage"], x=6, y=1, accuracy_m=2,
                                   method="multilateration", fixed_at=start + dt.timedelta(hours=5),
                                   last_seen_at=start + dt.timedelta(hours=5))
    assert UsageRule.objects.filter(room_type="patient_room", mode="presence").exists()  # the seeded defaults

    report = derive_from_locator(day, day + dt.timedelta(days=1))
    assert report.history_rows == len(hist) and report.assets == 2
    got = {u.asset_id: (u.hours, u.source) for u in DailyUsage.objects.filter(date=day)}
    assert got[pump.pk] == (pytest.approx(2.0, abs=1e-3), "locator")
    assert got[chair.pk][0] == pytest.approx(15 / 60, abs=1e-3)  # 4 movements; the last one has no last-heard time after it
    [period] = UsagePeriod.objects.filter(asset=pump)
    assert period.room == r["patient"] and period.hours == pytest.approx(2.0, abs=1e-3) and period.source == "locator"

    # Idempotent, and an imported device log for the day is kept.
    DailyUsage.objects.filter(asset=pump, date=day).update(hours=7.5, source="import")
    again = derive_from_locator(day, day + dt.timedelta(days=1))
    assert again.days_kept == 1
    assert DailyUsage.objects.get(asset=pump, date=day).hours == 7.5
    assert UsagePeriod.objects.filter(asset=pump).count() == 1

    out = StringIO()
    call_command("derive_usage", "--date", day.isoformat(), stdout=out)
    assert "periods of use" in out.getvalue()


GOOD = "asset_number,date,hours\nP-1,{d1},7.5\nP-2,{d1},0\nP-1,{d2},23.25\n"


@pytest.mark.django_db
def test_import_usage_good_file_imports_everything(world, tmp_path):
    d1, d2 = (timezone.localdate() - dt.timedelta(days=n) for n in (2, 1))
    DailyUsage.objects.create(asset=world["pumps"][0], date=d1, hours=1.0, source="locator")
    path = tmp_path / "usage.csv"
    path.write_text(GOOD.format(d1=d1, d2=d2), encoding="utf-8")
    out, err = StringIO(), StringIO()
    call_command("import_usage", str(path), stdout=out, stderr=err)
    assert "Imported 3 days of usage for 2 assets" in out.getvalue() and "1 earlier figures" in out.getvalue()
    got = {(u.asset.asset_number, u.date): (u.hours, u.source) for u in DailyUsage.objects.select_related("asset")}
    assert got == {("P-1", d1): (7.5, "import"), ("P-2", d1): (0.0, "import"), ("P-1", d2): (23.25, "import")}


@pytest.mark.django_db
def test_import_usage_bad_file_reports_line_numbers_and_imports_nothing(world, tmp_path):
    d = timezone.localdate() - dt.timedelta(days=1)
    future = timezone.localdate() + dt.timedelta(days=3)
    text = (f"Asset_Number,Hours,Date,comment\nP-1,5,{d},ok\nNOPE-7,5,{d},\nP-2,25,{d},\nP-3,x,2025-13-01,\n"
            f"P-1,4,{d},dup\nP-4,2,{future},\n")
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing|fix the lines"):
        call_command("import_usage", str(path), stdout=StringIO(), stderr=err)
    report = err.getvalue()
    assert "nothing was imported" in report
    assert "line 3: unknown asset number 'NOPE-7'" in report
    assert "line 4: hours 25 is not between 0 and 24" in report
    assert "line 5: date '2025-13-01' is not YYYY-MM-DD; hours 'x' is not a number" in report
    assert f"line 6: P-1 {d} is already on line 2" in report
    assert f"line 7: date {future} is in the future" in report
    assert "line 2" not in report.replace("already on line 2", "")
    assert DailyUsage.objects.count() == 0


@pytest.mark.django_db
def test_import_usage_rejects_a_wrong_header_and_empty_files(world, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("asset,day,run_hours\nP-1,2025-01-01,3\n", encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_usage", str(path), stdout=StringIO(), stderr=err)
    assert "line 1: the header lacks asset_number, date, hours" in err.getvalue()
    path.write_text("asset_number,date,hours\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("import_usage", str(path), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_usage", str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_import_usage_dry_run_stores_nothing(world):
    d = timezone.localdate() - dt.timedelta(days=1)
    report = import_usage_csv(f"asset_number,date,hours\nP-1,{d},3\n", dry_run=True)
    assert report.rows == 1 and report.ok and DailyUsage.objects.count() == 0


def test_the_usage_rules_module_never_imports_django():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, hospital.maintenance.usage; "
            "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"
