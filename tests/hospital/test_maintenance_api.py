"""The maintenance API with token authentication: list, detail and filters of plans, work orders and
forecasts; the lifecycle actions; permissions. The routes are mounted here as ``hospital.api.urls`` mounts
them (``router`` of hospital/maintenance/api/urls.py under /api/)."""

import datetime as dt

import pytest
from django.urls import include, path
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from hospital import roles
from hospital.maintenance import services
from hospital.maintenance.api.urls import router
from hospital.maintenance.forecasting import run_forecast
from hospital.maintenance.models import WorkOrder
from locator.models import CurrentLocation

from .test_maintenance_fixtures import *  # noqa: F403 - the fixtures
from .test_maintenance_fixtures import make_order, usage_history

urlpatterns = [path("api/", include(router.urls))]
pytestmark = pytest.mark.urls(__name__)


def api(user):
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return c


@pytest.fixture
def data(world):
    services.sync_type_plans()
    p1, p2 = world["pumps"][:2]
    usage_history([(p1, 12.0), (p2, 1.0)], days=120)
    seen = timezone.now()
    CurrentLocation.objects.create(tag=p1.tag, floor=world["floors"][0], room=world["rooms"]["patient"], x=1, y=1,
                                   accuracy_m=2, method="multilateration", fixed_at=seen, last_seen_at=seen)
    overdue = make_order(p1, due_in=-2, plan=services.plan_for(p1, "preventive"))
    soon = make_order(p2, due_in=3, plan=services.plan_for(p2, "preventive"))
    run_forecast(timezone.localdate(), create_orders=False)
    return {"overdue": overdue, "soon": soon}


def test_token_auth_is_required_and_nurses_are_forbidden(data, make_user):
    assert APIClient().get("/api/work-orders/").status_code in (401, 403)  # 403 while session auth comes first
    nurse = api(make_user(roles.NURSE))
    for url in ("/api/work-orders/", "/api/maintenance-plans/", "/api/forecasts/", "/api/usage-days/"):
        assert nurse.get(url).status_code == 403, url
    assert nurse.post(f"/api/work-orders/{data['soon'].pk}/complete/", {}, format="json").status_code == 403


def test_plans_list_detail_and_filters(data, make_user, world):
    c = api(make_user(roles.ENGINEER))
    r = c.get("/api/maintenance-plans/")
    assert r.status_code == 200 and r.json()["count"] == 2
    plan = next(p for p in r.json()["results"] if p["asset_type"] == world["pump"].pk)
    assert plan["interval_days"] == 365 and plan["interval_hours"] == 1000 and plan["effective_risk"] == "high"
    assert c.get(f"/api/maintenance-plans/{plan['id']}/").json()["task_list"]
    assert c.get("/api/maintenance-plans/?kind=calibration").json()["count"] == 0
    assert c.get(f"/api/maintenance-plans/?asset_type={world['chair'].pk}").json()["count"] == 1
    r = c.post("/api/maintenance-plans/", {"name": "P-1 override", "asset": world["pumps"][0].pk, "interval_days": 90},
               format="json")
    assert r.status_code == 201, r.content
    assert c.get("/api/maintenance-plans/?override=true").json()["count"] == 1
    bad = c.post("/api/maintenance-plans/", {"name": "no interval", "asset": world["pumps"][1].pk}, format="json")
    assert bad.status_code == 400 and "interval" in bad.content.decode()


def test_work_orders_list_detail_filters_and_location(data, make_user, world):
    c = api(make_user(roles.ENGINEER))
    r = c.get("/api/work-orders/?pending=true")
    assert r.status_code == 200 and r.json()["count"] == 2
    assert [o["asset_number"] for o in c.get("/api/work-orders/?overdue=true").json()["results"]] == ["P-1"]
    assert c.get("/api/work-orders/?status=done").json()["count"] == 0
    assert c.get("/api/work-orders/?asset_number=P-2&kind=preventive").json()["count"] == 1
    today = timezone.localdate()
    assert c.get(f"/api/work-orders/?due_before={today}").json()["count"] == 1
    d = c.get(f"/api/work-orders/{data['overdue'].pk}/").json()
    floor = world["floors"][0]
    assert d["number"] == data["overdue"].number and d["status"] == "scheduled" and d["task_list"]
    assert d["location"]["located"] and d["location"]["room_number"] == "1-01"
    assert d["location"]["map_url"] == f"/map/{floor.pk}/?asset={world['pumps'][0].pk}"
    other = c.get(f"/api/work-orders/{data['soon'].pk}/").json()["location"]
    assert not other["located"] and other["text"] == "not located — never seen by the locator"
    assert c.get("/api/work-orders/?status=bogus").status_code == 400


def test_work_order_lifecycle_through_the_api(data, make_user, world):
    eng = make_user(roles.ENGINEER)
    c = api(eng)
    o = data["soon"]
    r = c.post(f"/api/work-orders/{o.pk}/defer/", {"reason": ""}, format="json")
    assert r.status_code == 400
    assert c.post(f"/api/work-orders/{o.pk}/could-not-locate/", {"note": "not on 1-01"}, format="json").json()[
        "status"] == "could_not_locate"
    assert c.post(f"/api/work-orders/{o.pk}/start/", {}, format="json").json()["status"] == "in_progress"
    r = c.post(f"/api/work-orders/{o.pk}/complete/", {"findings": "ok", "outcome": "pass", "downtime_hours": 1,
                                                      "parts": [{"description": "Filter", "quantity": 2}]}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["work_order"]["status"] == "done" and body["work_order"]["completed_by"] == eng.username
    assert body["work_order"]["parts"] == [{"part_number": "", "description": "Filter", "quantity": "2.00"}]
    nxt = body["next_order"]
    assert nxt["status"] == "scheduled" and nxt["previous"] == o.pk and nxt["due_date"]
    assert c.post(f"/api/work-orders/{o.pk}/complete/", {}, format="json").status_code == 400
    assert c.patch(f"/api/work-orders/{o.pk}/", {"title": "x"}, format="json").status_code == 400
    r = c.post("/api/work-orders/", {"asset": world["pumps"][3].pk, "kind": "repair", "title": "Alarm fault",
                                     "description": "Alarm silent"}, format="json")
    assert r.status_code == 201 and r.json()["kind"] == "repair" and r.json()["reported_at"]
    assert c.post("/api/work-orders/", {"asset": world["pumps"][3].pk, "kind": "recall", "title": "x"},
                  format="json").status_code == 400
    assert c.delete(f"/api/work-orders/{o.pk}/").status_code == 405
    r = c.post(f"/api/work-orders/{nxt['id']}/schedule/", {"due_date": str(timezone.localdate() + dt.timedelta(days=9))},
               format="json")
    assert r.json()["due_driver"] == "manual"


def test_facility_manager_cannot_complete(data, make_user):
    fm = api(make_user(roles.FACILITY_MANAGER))
    assert fm.post(f"/api/work-orders/{data['soon'].pk}/complete/", {}, format="json").status_code == 403
    assert WorkOrder.objects.get(pk=data["soon"].pk).status == "scheduled"


def test_forecasts_list_detail_and_filters(data, make_user, world):
    c = api(make_user(roles.ENGINEER))
    r = c.get("/api/forecasts/")
    assert r.status_code == 200 and r.json()["count"] == 7
    p1 = world["pumps"][0]
    [f] = c.get(f"/api/forecasts/?asset={p1.pk}").json()["results"]
    # Never serviced since commissioning 1000 days ago: overdue by the calendar (the hours since are unknown).
    assert f["driver"] == "calendar" and f["overdue"] and f["plan_name"] and f["hours_since_service"] is None
    assert f["mean_daily_hours"] == pytest.approx(12, rel=0.05) and f["method"] in ("level", "trend")
    assert f["due_p10"] <= f["due"] <= f["due_p90"]
    assert c.get(f"/api/forecasts/{f['id']}/").json()["params"]["method"] in ("level", "trend")
    assert c.get("/api/forecasts/?driver=calendar").json()["count"] == 7
    assert c.get("/api/forecasts/?driver=usage").json()["count"] == 0
    assert c.get("/api/forecasts/?overdue=true").json()["count"] >= 1
    assert c.get(f"/api/forecasts/?due_before={timezone.localdate() + dt.timedelta(days=100)}").json()["count"] >= 1
    assert c.get("/api/forecast-runs/").json()["count"] == 1
    assert c.get("/api/failure-models/").json()["count"] == 2
    assert c.get(f"/api/usage-days/?asset={p1.pk}&date_after={timezone.localdate() - dt.timedelta(days=10)}"
                 ).json()["count"] == 10
    assert c.get("/api/usage-rules/?mode=presence").json()["count"] == 8


def test_safety_notice_apply_through_the_api(data, make_user):
    c = api(make_user(roles.ENGINEER))
    r = c.post("/api/safety-notices/", {"reference": "FSN-API", "title": "Door latch", "manufacturer": "BD",
                                        "model": "Alaris 8100", "action_required": "Replace latch"}, format="json")
    assert r.status_code == 201, r.content
    orders = c.post(f"/api/safety-notices/{r.json()['id']}/apply/").json()
    assert len(orders) == 4 and {o["kind"] for o in orders} == {"recall"}
    assert c.delete(f"/api/safety-notices/{r.json()['id']}/").status_code == 400
