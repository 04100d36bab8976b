"""The maintenance pages: the board (ranked, grouped by floor, live location, map link, "not located"),
completing from the board, the calendar, roles, and the report with its CSVs on constructed data."""

import csv
import datetime as dt
import io
import re

import pytest
from django.utils import timezone

from hospital import roles
from hospital.maintenance import services
from hospital.maintenance.board import build_board
from hospital.maintenance.models import WorkOrder
from locator.models import CurrentLocation

from .test_maintenance_fixtures import *  # noqa: F403 - the fixtures
from .test_maintenance_fixtures import make_order


def locate(asset, room, *, minutes_ago=2):
    seen = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return CurrentLocation.objects.create(tag=asset.tag, floor=room.floor, room=room, x=2, y=2, accuracy_m=1.5,
                                          method="multilateration", fixed_at=seen, last_seen_at=seen)


@pytest.fixture
def due_work(world):
    """TEST DATA: four pending jobs. P-1 overdue (low risk set by hand) on level 2; P-2 due in 2 days, high risk,
    level 1; P-3 due in 5 days but last heard 3 days ago (stale); P-4 due today, never heard by the locator."""
    services.sync_type_plans()
    p1, p2, p3, p4 = world["pumps"]
    r = world["rooms"]
    locate(p1, r["icu"])
    locate(p2, r["patient"])
    locate(p3, r["storage"], minutes_ago=3 * 24 * 60)
    plan = services.plan_for(p1, "preventive")
    orders = {
        "p1": make_order(p1, due_in=-3, risk="low", plan=plan),
        "p2": make_order(p2, due_in=2, risk="high", plan=plan),
        "p3": make_order(p3, due_in=5, plan=plan),
        "p4": make_order(p4, due_in=0, plan=plan),
        "far": make_order(world["chairs"][0], due_in=60),
    }
    return orders


def test_the_board_ranks_overdue_first_groups_by_floor_and_lists_devices_it_cannot_locate(due_work, world):
    b = build_board(window_days=14)
    assert b.total == 4 and b.overdue == 1  # the chair due in 60 days is outside the window
    assert [g.title for g in b.groups] == ["Main · Level 1", "Main · Level 2"]
    assert [r.order.asset.asset_number for r in b.groups[0].rows] == ["P-2"]
    assert [r.order.asset.asset_number for r in b.not_located.rows] == ["P-4", "P-3"]  # ranked: due today first
    stale = b.not_located.rows[1].where
    assert stale.source == "stale" and stale.text.startswith("not located — last seen in 1-02 · Level 1 3")
    assert b.not_located.rows[0].where.text == "not located — never seen by the locator"


def test_board_page_shows_location_last_seen_and_the_map_link(client, make_user, due_work, world):
    client.force_login(make_user(roles.ENGINEER))
    r = client.get("/maintenance/")
    assert r.status_code == 200
    html = r.content.decode()
    p1, p2 = world["pumps"][:2]
    f1, f2 = world["floors"]
    assert f'href="/map/{f1.pk}/?asset={p2.pk}"' in html and f'href="/map/{f2.pk}/?asset={p1.pk}"' in html
    assert "Main · Level 1" in html and "Main · Level 2" in html  # one group per floor
    assert "<strong>2-01</strong>" in html and "<strong>1-01</strong>" in html
    assert "not located — never seen by the locator" in html and "not located — last seen in 1-02" in html
    p3, p4 = world["pumps"][2:]
    assert f'href="/map/{f1.pk}/?asset={p3.pk}"' in html  # stale: its last known floor
    assert f'href="/map/?asset={p4.pk}"' in html  # never heard: the map looks for it (every device has a link)
    assert "overdue by 3 days" in html
    # Rank over the whole page: the overdue job comes before the ones due later, whatever their floor.
    positions = [html.index(f">{n}</a>") for n in ("P-2", "P-1")]
    assert positions == sorted(positions)  # level 1 group first, level 2 next
    overdue = client.get(f"/maintenance/?floor={f2.pk}").content.decode()
    assert "P-1" in overdue and ">P-2</a>" not in overdue
    wide = client.get("/maintenance/?days=90").content.decode()
    assert ">W-1</a>" in wide


def test_completing_from_the_board_shows_the_next_one_scheduled(client, make_user, due_work):
    engineer = make_user(roles.ENGINEER)
    client.force_login(engineer)
    order = due_work["p2"]
    page = client.get(f"/maintenance/work-orders/{order.pk}/complete/?next=/maintenance/")
    assert page.status_code == 200 and "Mark done" in page.content.decode()
    r = client.post(f"/maintenance/work-orders/{order.pk}/complete/", {
        "next": "/maintenance/", "outcome": "pass", "findings": "All checks passed", "downtime_hours": "1.5",
        "parts-TOTAL_FORMS": "3", "parts-INITIAL_FORMS": "0", "parts-0-description": "Door seal",
        "parts-0-quantity": "2", "parts-0-part_number": "DS-1"}, follow=True)
    assert r.redirect_chain[-1][0] == "/maintenance/"
    html = r.content.decode()
    order.refresh_from_db()
    nxt = WorkOrder.objects.get(previous=order)
    assert order.status == "done" and order.completed_by == engineer and order.parts.get().quantity == 2
    assert re.search(rf"{order.number} is done\. Next preventive maintenance scheduled for .* \({nxt.number}, "
                     r"calendar interval\)\.", html)
    detail = client.get(f"/maintenance/work-orders/{order.pk}/").content.decode()
    assert "The next preventive maintenance is scheduled" in detail and nxt.number in detail


def test_lifecycle_buttons_on_the_pages(client, make_user, due_work):
    client.force_login(make_user(roles.ENGINEER))
    o = due_work["p4"]
    client.post(f"/maintenance/work-orders/{o.pk}/could-not-locate/", {"note": "Not on the ward", "next": "/maintenance/"})
    o.refresh_from_db()
    assert o.status == "could_not_locate"
    r = client.post(f"/maintenance/work-orders/{o.pk}/defer/", {"reason": ""}, follow=True)
    assert "Say why" in r.content.decode()
    client.post(f"/maintenance/work-orders/{o.pk}/defer/", {"reason": "Ward closed for cleaning"})
    o.refresh_from_db()
    assert o.status == "deferred" and o.status_reason == "Ward closed for cleaning"
    page = client.get(f"/maintenance/work-orders/{o.pk}/").content.decode()
    assert "could not locate" in page and "Ward closed for cleaning" in page
    assert client.post(f"/maintenance/work-orders/{o.pk}/explode/").status_code == 404


def test_roles_nurse_sees_nothing_engineer_completes_facility_manager_reads_reports(client, make_user, due_work):
    order = due_work["p2"]
    client.force_login(make_user(roles.NURSE))
    for url in ("/maintenance/", "/maintenance/calendar/", f"/maintenance/work-orders/{order.pk}/",
                "/maintenance/reports/", "/maintenance/reports/summary.csv", "/maintenance/forecasts/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/maintenance/work-orders/{order.pk}/complete/", {"findings": "x"}).status_code == 403
    assert client.post(f"/maintenance/work-orders/{order.pk}/start/").status_code == 403
    assert "Maintenance" not in client.get("/").content.decode().split("<main")[0]
    client.logout()

    client.force_login(make_user(roles.FACILITY_MANAGER))
    assert client.get("/maintenance/reports/").status_code == 200
    assert client.get("/maintenance/").status_code == 403
    assert client.post(f"/maintenance/work-orders/{order.pk}/complete/", {"findings": "x"}).status_code == 403
    nav = client.get("/maintenance/reports/").content.decode().split("<main")[0]
    assert "Maintenance reports" in nav and 'href="/maintenance/"' not in nav
    client.logout()

    client.force_login(make_user(roles.ENGINEER))
    nav = client.get("/maintenance/").content.decode().split("<main")[0]
    assert 'href="/maintenance/"' in nav
    order.refresh_from_db()
    assert order.status == "scheduled"


def test_other_pages_open(client, make_user, due_work, world):
    client.force_login(make_user(roles.ENGINEER))
    a = world["pumps"][1]
    today = timezone.localdate()
    for url in ("/maintenance/calendar/", f"/maintenance/calendar/?month={today:%Y-%m}", "/maintenance/calendar/?month=x",
                f"/maintenance/assets/{a.pk}/", f"/maintenance/assets/{a.pk}/report-fault/", "/maintenance/plans/",
                "/maintenance/forecasts/", "/maintenance/forecasts/?flag=long_idle&overdue=1",
                "/maintenance/usage-rules/", "/maintenance/notices/", "/maintenance/notices/new/"):
        assert client.get(url).status_code == 200, url
    cal = client.get(f"/maintenance/calendar/?month={today:%Y-%m}").content.decode()
    assert "P-2" in cal and today.strftime("%B %Y") in cal
    r = client.post(f"/maintenance/assets/{a.pk}/report-fault/", {"description": "Cracked door"}, follow=True)
    assert "Repair WO-" in r.content.decode() and WorkOrder.objects.filter(kind="repair", asset=a).exists()
    r = client.post("/maintenance/notices/new/", {"reference": "FSN-1", "kind": "recall", "title": "Battery",
                                                  "manufacturer": "BD", "model": "Alaris 8100", "issued_on": today,
                                                  "action_required": "Swap battery", "due_within_days": 14,
                                                  "risk_class": "high"}, follow=True)
    assert "4 units match" in r.content.decode()
    notice_id = r.redirect_chain[-1][0].rstrip("/").rsplit("/", 1)[-1]
    r = client.post(f"/maintenance/notices/{notice_id}/apply/", follow=True)
    assert "4 work orders created" in r.content.decode()


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode() if response.streaming
                                       else response.content.decode())))


def test_report_and_csv_show_pm_completion_on_constructed_data(client, make_user, world):
    """TEST DATA: 4 planned jobs fell due in the period: 3 done (1 late), 1 not. High-risk (pumps): 2 due,
    1 done -> 50 %, which the page flags as below the required 100 %."""
    services.sync_type_plans()
    today = timezone.localdate()
    p1, p2 = world["pumps"][:2]
    w1, w2 = world["chairs"]

    def job(asset, due_ago, done_ago=None):
        o = make_order(asset, due_in=-due_ago, plan=services.plan_for(asset, "preventive"))
        if done_ago is not None:
            services.complete(o, user=None, findings="ok", completed_at=timezone.now() - dt.timedelta(days=done_ago))
        return o

    job(p1, 40, 45)  # early: on time
    job(p2, 30)  # high risk, not done
    job(w1, 20, 10)  # 10 days late
    job(w2, 10, 10)  # on the day
    client.force_login(make_user(roles.FACILITY_MANAGER))
    start = (today - dt.timedelta(days=60)).isoformat()
    r = client.get(f"/maintenance/reports/?start={start}&end={today}")
    assert r.status_code == 200
    html = r.content.decode()
    assert "75.0 %" in html and "50.0 %" in html and "must be 100 %" in html
    assert '<svg class="chart"' in html and "<title>PM completion per month (%)</title>" in html
    rows = {row[0]: row[1] for row in _csv(client.get(f"/maintenance/reports/summary.csv?start={start}&end={today}"))}
    assert rows["PM completion (%)"] == "75.0"
    assert rows["High-risk PM completion (%)"] == "50.0"
    assert rows["On-time rate (%)"] == "66.7"
    util = client.get(f"/maintenance/reports/utilisation.csv?start={start}&end={today}")
    assert util["Content-Type"].startswith("text/csv") and "attachment" in util["Content-Disposition"]
    header = _csv(util)[0]
    assert header[:3] == ["type", "department", "assets"] and "peak_in_use" in header
    for table in ("pm-monthly", "pm-by-type", "reliability"):
        assert client.get(f"/maintenance/reports/{table}.csv").status_code == 200
    assert client.get("/maintenance/reports/nope.csv").status_code == 404


def test_report_peak_concurrency_and_reliability_on_constructed_data(client, make_user, world):
    """TEST DATA: three of four pumps in use at once; one repair of 10 hours."""
    from hospital.maintenance.models import DailyUsage, UsagePeriod

    today = timezone.localdate()
    base = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=3), dt.time(8)))
    h = dt.timedelta(hours=1)
    p = world["pumps"]
    for a, s, e in ((p[0], 0, 4), (p[1], 1, 5), (p[2], 2, 3), (p[3], 6, 8)):
        UsagePeriod.objects.create(asset=a, start=base + s * h, end=base + e * h, source="locator")
        DailyUsage.objects.create(asset=a, date=today - dt.timedelta(days=3), hours=e - s, source="locator")
    o = services.report_fault(p[0], user=None, description="x", reported_at=base)
    services.complete(o, user=None, findings="fixed", completed_at=base + 10 * h)
    client.force_login(make_user(roles.ENGINEER))
    rows = _csv(client.get(f"/maintenance/reports/utilisation.csv?start={today - dt.timedelta(days=7)}&end={today}"))
    head = rows[0]
    pump = next(dict(zip(head, r, strict=True)) for r in rows[1:] if r[0] == "Infusion pump")
    assert pump["assets"] == "5" and float(pump["peak_in_use"]) == 3 and float(pump["hours"]) == 11.0
    rel = _csv(client.get(f"/maintenance/reports/reliability.csv?start={today - dt.timedelta(days=7)}&end={today}"))
    pump = next(dict(zip(rel[0], r, strict=True)) for r in rel[1:] if r[0] == "Infusion pump")
    assert pump["failures"] == "1" and float(pump["mttr_hours"]) == 10.0
