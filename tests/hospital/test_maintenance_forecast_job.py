"""The forecast job: stores a forecast per asset and plan, a Weibull model per asset type from repair work
orders, flags, moves pending due dates, and creates work orders N days ahead (MAINTENANCE_LOOKAHEAD_DAYS)."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from hospital.maintenance import services
from hospital.maintenance.forecasting import lookahead_days, run_forecast
from hospital.maintenance.models import FailureModel, Forecast, ForecastRun, WorkOrder

from .test_maintenance_fixtures import *  # noqa: F403 - the fixtures
from .test_maintenance_fixtures import usage_history


def last_serviced(asset, days_ago):
    """A completed PM ``days_ago`` days ago (TEST DATA)."""
    plan = services.plan_for(asset, "preventive")
    order = services.create_work_order(asset, "preventive", plan=plan, status="scheduled")
    services.complete(order, user=None, completed_at=timezone.now() - dt.timedelta(days=days_ago), findings="ok")
    # Remove the order the completion scheduled: the job is to create it (the demo leaves some so too).
    nxt = WorkOrder.objects.get(asset=asset, status="scheduled")
    services.cancel(nxt, user=None, reason="test: leave the plan without a pending order")


@pytest.fixture
def fleet(world):
    services.sync_type_plans()
    p1, p2, p3, p4 = world["pumps"]
    usage_history([(p1, 2.0), (p2, 2.0), (p3, 20.0), (p4, 0.0)], days=200)
    last_serviced(p1, 360)  # calendar due in 5 days
    last_serviced(p2, 335)  # calendar due in 30 days
    last_serviced(p3, 10)  # 1000 h at 20 h/day: usage due in about 40 days (used 200 h already)
    last_serviced(p4, 100)  # idle: due in 265 days
    return world


def test_the_job_stores_forecasts_and_creates_orders_within_the_lookahead(fleet):
    today = timezone.localdate()
    assert lookahead_days() == 14
    run = run_forecast(today, triggered_by="test")
    # P-1 (due in 5 days); P-9, W-1 and W-2 were never serviced since commissioning 1000 days ago: overdue.
    assert run.status == "done" and run.orders_created == 4
    p1, p2, p3, p4 = fleet["pumps"]
    created = WorkOrder.objects.filter(status="open", kind="preventive")
    assert set(created.values_list("asset__asset_number", flat=True)) == {"P-1", "P-9", "W-1", "W-2"}
    assert created.get(asset__asset_number="W-1").due_date < today
    o = created.get(asset=p1)
    assert o.due_date == today + dt.timedelta(days=5) and o.due_driver == "calendar" and o.plan.asset_type == p1.asset_type
    assert o.events.get().by_name == "maintenance_forecast" and o.tasks
    f3 = Forecast.objects.get(asset=p3, plan__kind="preventive")
    assert f3.driver == "usage" and 35 <= f3.days_to_due <= 45
    assert f3.mean_daily_hours == pytest.approx(20.0, rel=0.05) and f3.hours_since_service == pytest.approx(200, abs=25)
    assert Forecast.objects.get(asset=p4, plan__kind="preventive").long_idle
    assert Forecast.objects.filter(run=run).count() == 7  # 5 pumps + 2 wheelchairs, one plan each
    assert Forecast.objects.get(asset=p1).params["method"] in ("level", "trend")

    # Again: nothing new; the forecast only moves due dates that were not set by hand.
    again = run_forecast(today)
    assert again.orders_created == 0 and Forecast.objects.count() == 7
    assert ForecastRun.objects.count() == 2


@override_settings(MAINTENANCE_LOOKAHEAD_DAYS=45)
def test_the_lookahead_is_a_setting(fleet):
    run = run_forecast(timezone.localdate())
    assert run.lookahead_days == 45
    assert set(WorkOrder.objects.filter(status="open").values_list("asset__asset_number", flat=True)) == {
        "P-1", "P-2", "P-3", "P-9", "W-1", "W-2"}
    assert WorkOrder.objects.get(status="open", asset=fleet["pumps"][2]).due_driver == "usage"


def test_pending_due_dates_follow_the_forecast_unless_set_by_hand(fleet):
    today = timezone.localdate()
    p3 = fleet["pumps"][2]
    order = services.create_work_order(p3, "preventive", plan=services.plan_for(p3, "preventive"), status="scheduled",
                                       due_date=today + dt.timedelta(days=355), due_driver="calendar")
    run = run_forecast(today)
    order.refresh_from_db()
    assert order.due_driver == "usage" and (order.due_date - today).days < 50 and run.orders_updated >= 1
    services.schedule(order, user=None, due_date=today + dt.timedelta(days=60))
    run_forecast(today)
    order.refresh_from_db()
    assert order.due_date == today + dt.timedelta(days=60) and order.due_driver == "manual"


def test_weibull_models_come_from_repair_work_orders(fleet):
    today = timezone.localdate()
    for i, a in enumerate(fleet["pumps"]):
        for back in (900 - 50 * i, 500 - 30 * i, 120 + 10 * i):
            o = services.report_fault(a, user=None, description="fault",
                                      reported_at=timezone.now() - dt.timedelta(days=back))
            services.complete(o, user=None, findings="fixed", completed_at=o.reported_at + dt.timedelta(hours=5))
    run_forecast(today)
    m = FailureModel.objects.get(asset_type=fleet["pump"])
    assert m.n_failures == 12 and m.n_censored == 5 and m.method == "mle" and m.shape > 0 and m.mtbf_days > 0
    chair = FailureModel.objects.get(asset_type=fleet["chair"])
    assert chair.n_failures == 0 and chair.flagged
    risks = Forecast.objects.filter(asset__in=fleet["pumps"]).values_list("failure_risk", flat=True)
    assert all(0 <= r <= 1 for r in risks)


def test_an_empty_fleet_runs(db):
    run = run_forecast(timezone.localdate())
    assert run.status == "done" and run.n_assets == 0 and Forecast.objects.count() == 0


def test_the_command_prints_a_summary(fleet):
    out = StringIO()
    call_command("maintenance_forecast", "--lookahead", "7", stdout=out)
    text = out.getvalue()
    assert "Forecast as of" in text and "created (due within 7 days)" in text and "Done in" in text
