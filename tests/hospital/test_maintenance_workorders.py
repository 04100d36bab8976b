"""Plans and work orders: whichever comes first, completion schedules the next (from completion or from
the planned date), recalls create one order per unit, the lifecycle is enforced and audited."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from hospital import roles
from hospital.maintenance import services
from hospital.maintenance.choices import WorkOrderStatus
from hospital.maintenance.forecasting import run_forecast
from hospital.maintenance.models import Forecast, MaintenancePlan, SafetyNotice, WorkOrder, WorkOrderEvent

from .test_maintenance_fixtures import *  # noqa: F403 - the fixtures
from .test_maintenance_fixtures import usage_history

TODAY = timezone.localdate


def days(n):
    return dt.timedelta(days=n)


@pytest.fixture
def engineer(make_user):
    return make_user(roles.ENGINEER)


def test_type_plans_come_from_the_asset_type_intervals_and_are_never_overwritten(world):
    created = services.sync_type_plans()
    assert {(p.asset_type.code, p.kind) for p in created} == {("pump", "preventive"), ("chair", "preventive")}
    plan = MaintenancePlan.objects.get(asset_type=world["pump"], kind="preventive")
    assert (plan.interval_days, plan.interval_hours) == (365, 1000)
    assert "whichever comes first" in plan.interval_text() and plan.task_list
    plan.interval_days = 200
    plan.save()
    assert services.sync_type_plans() == []
    assert MaintenancePlan.objects.get(pk=plan.pk).interval_days == 200


def test_a_plan_is_for_a_type_or_an_asset_and_has_an_interval(world):
    with pytest.raises(ValidationError):
        MaintenancePlan(name="x", asset_type=world["pump"], asset=world["pumps"][0], interval_days=1).clean()
    with pytest.raises(ValidationError):
        MaintenancePlan(name="x", asset_type=world["pump"]).clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        MaintenancePlan.objects.create(name="x", asset_type=world["pump"])


def test_an_asset_override_replaces_the_type_plan(world):
    services.sync_type_plans()
    a = world["pumps"][0]
    own = MaintenancePlan.objects.create(name="Pump 1 in ICU: every 90 days", asset=a, interval_days=90)
    assert services.plan_for(a, "preventive") == own
    assert services.plan_for(world["pumps"][1], "preventive").asset_type == world["pump"]
    own.active = False
    own.save()
    assert services.plan_for(a, "preventive").asset_type == world["pump"]


@pytest.mark.parametrize("rate,driver,due_in", [(10.0, "usage", 100), (1.0, "calendar", 365)])
def test_plan_due_is_whichever_comes_first(world, rate, driver, due_in):
    """365 days or 1000 h: at 10 h/day the hours run out after 100 days, at 1 h/day the calendar wins."""
    a = world["pumps"][0]
    usage_history([(a, rate)], days=200)
    services.sync_type_plans()
    plan = services.plan_for(a, "preventive")
    today = TODAY()
    done = services.create_work_order(a, "preventive", plan=plan, status="scheduled", due_date=today)
    services.complete(done, user=None, completed_at=timezone.now() - dt.timedelta(seconds=1), findings="ok")
    run_forecast(today, create_orders=False)
    f = Forecast.objects.get(asset=a, plan=plan)
    assert f.driver == driver
    assert abs((f.due - today).days - due_in) <= 1
    assert f.calendar_due == today + days(365)
    assert f.due_p10 <= f.due <= f.due_p90
    # Completing the next one uses the same rule: the next order is due at whichever comes first.
    nxt = WorkOrder.objects.get(asset=a, status="scheduled")
    c = services.complete(nxt, user=None, findings="ok")
    assert c.next_order.due_driver == driver
    assert abs((c.next_order.due_date - today).days - due_in) <= 1


def test_completing_schedules_the_next_from_the_completion_date(world, engineer):
    services.sync_type_plans()
    a = world["chairs"][0]
    plan = services.plan_for(a, "preventive")
    planned = TODAY() - days(20)
    order = services.create_work_order(a, "preventive", plan=plan, status="scheduled", due_date=planned,
                                       planned_date=planned)
    done_at = timezone.now() - days(10)
    c = services.complete(order, user=engineer, findings="Brakes adjusted", outcome="pass", completed_at=done_at)
    assert c.order.status == "done" and c.order.completed_by == engineer
    nxt = c.next_order
    assert nxt.status == WorkOrderStatus.SCHEDULED and nxt.previous == order and nxt.kind == "preventive"
    assert nxt.due_date == timezone.localtime(done_at).date() + days(365)
    assert nxt.due_driver == "calendar" and nxt.plan == plan
    assert nxt.events.get().note.startswith(f"Scheduled by the completion of {order.number}")


def test_completing_schedules_the_next_from_the_planned_date_when_the_plan_says_so(world, engineer):
    services.sync_type_plans()
    a = world["chairs"][0]
    plan = services.plan_for(a, "preventive")
    plan.count_from = "planned"
    plan.save()
    planned = TODAY() - days(20)
    order = services.create_work_order(a, "preventive", plan=plan, status="scheduled", due_date=planned,
                                       planned_date=planned)
    c = services.complete(order, user=engineer, completed_at=timezone.now() - days(10))
    assert c.next_order.due_date == planned + days(365)
    assert c.next_order.planned_date == planned + days(365)


def test_repairs_need_findings_and_do_not_schedule_anything(world, engineer):
    a = world["pumps"][0]
    repair = services.report_fault(a, user=engineer, description="Occlusion alarm", out_of_service=True)
    a.refresh_from_db()
    assert a.status == "out_of_service" and repair.kind == "repair" and repair.reported_at
    with pytest.raises(services.WorkOrderError, match="findings"):
        services.complete(repair, user=engineer)
    c = services.complete(repair, user=engineer, findings="Sensor replaced",
                          parts=[{"part_number": "PRS-1", "description": "Pressure sensor", "quantity": 1}])
    assert c.next_order is None and c.order.parts.count() == 1 and c.order.downtime_hours is not None
    a.refresh_from_db()
    assert a.status == "available"


def test_a_recall_creates_one_order_per_unit_of_the_model(world, engineer):
    notice = SafetyNotice.objects.create(reference="FSN-TEST-1", title="Free-flow alarm delay", manufacturer="bd",
                                         model="ALARIS 8100", action_required="Update software", due_within_days=30)
    orders = services.apply_safety_notice(notice, user=engineer)
    assert sorted(o.asset.asset_number for o in orders) == ["P-1", "P-2", "P-3", "P-4"]  # not P-9 (other model)
    assert {o.kind for o in orders} == {"recall"} and {o.due_date for o in orders} == {TODAY() + days(30)}
    assert all(o.notice == notice and o.tasks == "Update software" for o in orders)
    assert services.apply_safety_notice(notice, user=engineer) == []  # idempotent
    c = services.complete(orders[0], user=engineer, findings="Updated")
    assert c.next_order is None
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkOrder.objects.create(asset=orders[1].asset, kind="recall", notice=notice, title="dup", risk_class="high")


def test_lifecycle_transitions_are_validated(world, engineer):
    a = world["pumps"][0]
    order = services.create_work_order(a, "calibration", title="Calibration", due_date=TODAY())
    with pytest.raises(services.WorkOrderError, match="why"):
        services.defer(order, user=engineer, reason="  ")
    with pytest.raises(services.WorkOrderError, match="future"):
        services.defer(order, user=engineer, reason="busy", until=TODAY() - days(1))
    services.defer(order, user=engineer, reason="In use on a patient", until=TODAY() + days(3))
    order.refresh_from_db()
    assert order.status == "deferred" and order.status_reason == "In use on a patient"
    with pytest.raises(services.WorkOrderError, match="why"):
        services.cancel(order, user=engineer, reason="")
    services.could_not_locate(services.reopen(order, user=engineer), user=engineer, note="Not in 1-01")
    services.start(order, user=engineer)
    a.refresh_from_db()
    assert a.status == "in_maintenance"
    with pytest.raises(services.WorkOrderError, match="cannot become could not locate"):
        services.could_not_locate(order, user=engineer)
    services.complete(order, user=engineer, findings="Within tolerance")
    a.refresh_from_db()
    assert a.status == "available"
    for fn, kw in ((services.start, {}), (services.cancel, {"reason": "x"}), (services.reopen, {}),
                   (services.defer, {"reason": "x"})):
        with pytest.raises(services.WorkOrderError, match="is done"):
            fn(order, user=engineer, **kw)
    with pytest.raises(services.WorkOrderError):
        services.complete(order, user=engineer)
    statuses = list(order.events.values_list("from_status", "to_status"))
    assert statuses == [("", "open"), ("open", "deferred"), ("deferred", "open"), ("open", "could_not_locate"),
                        ("could_not_locate", "in_progress"), ("in_progress", "done")]
    cnl = order.events.get(to_status="could_not_locate")
    assert cnl.note == "Not in 1-01" and cnl.data["last_seen"]["text"].startswith("not located")


def test_the_completion_and_the_event_log_cannot_be_rewritten(world, engineer, make_user):
    order = services.create_work_order(world["pumps"][0], "repair", title="Repair", due_date=TODAY())
    services.complete(order, user=engineer, findings="Fixed")
    order.refresh_from_db()
    done_event = order.events.get(to_status="done")
    assert done_event.by == engineer and done_event.by_name == engineer.username
    order.completed_by = make_user(roles.ADMINISTRATOR)
    with pytest.raises(ValidationError, match="cannot be changed"):
        order.save()
    order.refresh_from_db()
    order.findings = "a typo fixed"  # other fields stay editable
    order.save()
    with pytest.raises(ValidationError):
        done_event.note = "edited"
        done_event.save()
    with pytest.raises(ValidationError):
        done_event.delete()
    with pytest.raises(ValidationError):
        WorkOrderEvent.objects.filter(pk=done_event.pk).update(note="x")
    with pytest.raises(ValidationError):
        WorkOrderEvent.objects.all().delete()
    assert WorkOrderEvent.objects.get(pk=done_event.pk).note == "Fixed"


def test_only_one_pending_planned_order_per_asset_and_kind(world):
    services.sync_type_plans()
    a = world["pumps"][0]
    services.create_work_order(a, "preventive", plan=services.plan_for(a, "preventive"), due_date=TODAY())
    with pytest.raises(services.WorkOrderError, match="already has a pending"):
        services.create_work_order(a, "preventive", due_date=TODAY())
    services.create_work_order(a, "calibration", due_date=TODAY())  # another kind is fine


def test_due_summary_gives_the_next_pending_work_per_asset(world):
    a, b = world["pumps"][:2]
    services.create_work_order(a, "calibration", due_date=TODAY() + days(9))
    soon = services.create_work_order(a, "repair", title="Repair", due_date=TODAY() - days(1))
    summary = services.due_summary([a.pk, b.pk])
    assert list(summary) == [a.pk]
    assert summary[a.pk]["work_order"] == soon.pk and summary[a.pk]["overdue"] and summary[a.pk]["kind"] == "repair"


def test_the_worker_cycle_derives_usage_and_forecasts_once_a_day(world):
    from hospital.maintenance.models import ForecastRun
    from hospital.maintenance.worker import cycle

    cycle()
    cycle()
    assert ForecastRun.objects.filter(status="done").count() == 1
