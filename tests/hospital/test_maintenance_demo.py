"""The demo's generated maintenance history makes the board, the forecasts and the report meaningful on
first run, is labelled as generated, and is not generated twice."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from hospital.maintenance.board import build_board
from hospital.maintenance.demo import generate_history
from hospital.maintenance.models import (
    DailyUsage,
    FailureModel,
    Forecast,
    ForecastRun,
    SafetyNotice,
    UsagePeriod,
    WorkOrder,
    WorkOrderEvent,
)
from hospital.maintenance.reports import Filters, report


@pytest.mark.slow
@pytest.mark.django_db
def test_the_demo_generates_two_years_of_believable_history(client):
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())
    today = timezone.localdate()

    span = DailyUsage.objects.aggregate(first=Min("date"), last=Max("date"))
    assert span["first"] <= today - dt.timedelta(days=700) and span["last"] == today - dt.timedelta(days=1)
    assert set(DailyUsage.objects.values_list("source", flat=True)) == {"demo"}  # labelled generated data
    assert UsagePeriod.objects.filter(source="demo").count() > 10_000
    assert not DailyUsage.objects.filter(asset__asset_type__is_mobile=False).exists()

    kinds = dict(WorkOrder.objects.values_list("kind").annotate(n=Count("pk")))
    assert kinds["preventive"] > 400 and kinds["repair"] > 100 and kinds["recall"] > 5 and kinds["calibration"] > 50
    assert not WorkOrder.objects.filter(demo=False).exists()
    statuses = set(WorkOrder.objects.values_list("status", flat=True))
    assert {"done", "scheduled", "open", "in_progress", "deferred", "could_not_locate"} <= statuses
    assert WorkOrder.objects.filter(status__in=["open", "scheduled"], due_date__lt=today).exists()  # overdue work
    assert WorkOrderEvent.objects.filter(to_status="done").count() == WorkOrder.objects.filter(status="done").count()
    assert SafetyNotice.objects.get().reference.startswith("DEMO-")

    run = ForecastRun.objects.get()
    assert run.status == "done" and run.triggered_by == "load_demo" and run.n_assets == 476
    assert Forecast.objects.filter(driver="usage").exists() and Forecast.objects.filter(driver="calendar").exists()
    assert Forecast.objects.exclude(flags="").exists()
    assert FailureModel.objects.filter(method="mle").count() >= 10

    b = build_board()
    assert b.total > 20 and b.overdue > 0 and b.not_located.rows  # no live positions until the simulator runs
    r = report(Filters(today - dt.timedelta(days=364), today))
    assert 50 < r["pm"]["completion"] < 100 and r["reliability_totals"]["mtbf_days"] > 100
    assert r["utilisation_by_type"]["peak_in_use"].max() > 10

    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="engineer"))
    assert client.get("/maintenance/").status_code == 200

    before = (DailyUsage.objects.count(), WorkOrder.objects.count())
    assert generate_history() == {}  # already there: not generated twice
    call_command("load_demo", "--force", stdout=StringIO(), stderr=StringIO())
    assert (DailyUsage.objects.count(), WorkOrder.objects.count()) == before and ForecastRun.objects.count() == 1
