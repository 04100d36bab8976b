"""Pages and operator actions: acknowledge, shelve and comment are permission-checked and recorded
with who and when; reports open; the override is audited; the admin shows every model."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from hospital import roles
from sensors.environment import compliance
from sensors.environment.alarm_service import AlarmService
from sensors.environment.models import (
    Alarm,
    AlarmAction,
    AlarmEvent,
    Excursion,
    ProfileChange,
    TemperatureLogReview,
)
from tests.sensors.test_environment_support import T0, Clock, every, feed_series, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, floor):
    return make_world(floor)


@pytest.fixture
def excursion(world):
    """A vaccine fridge that was at 9.5 C for 50 minutes: one alarm, one excursion."""
    svc = AlarmService(clock=Clock())
    fridge = world["fridge"]
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(T0, T0 + 540, 60)])
    feed_series(svc, fridge, "temperature_c", [(t, 9.5) for t in every(T0 + 600, T0 + 3540, 60)])
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(T0 + 3600, T0 + 5400, 60)])
    world["service"] = svc
    world["alarm"] = Alarm.objects.get(key="fridge-1", rule="temperature_high")
    return world


def login(client, make_user, role):
    user = make_user(role)
    client.force_login(user)
    return user


def test_nurse_cannot_acknowledge_but_facility_manager_can(client, make_user, excursion):
    alarm, svc = excursion["alarm"], excursion["service"]
    url = reverse("environment:alarm-action", args=[alarm.pk, "acknowledge"])
    login(client, make_user, roles.NURSE)
    assert client.post(url).status_code == 403
    assert client.post(url, HTTP_ACCEPT="application/json").status_code == 403
    assert not AlarmAction.objects.exists()
    client.logout()
    manager = login(client, make_user, roles.FACILITY_MANAGER)
    before = timezone.now()
    response = client.post(url)
    assert response.status_code == 302
    action = AlarmAction.objects.get()
    assert (action.kind, action.user, action.username, action.status) == ("acknowledge", manager, "facility_manager",
                                                                           "pending")
    assert before <= action.created_at <= timezone.now()
    svc.tick(T0 + 6000)  # the alarm service applies it
    action.refresh_from_db()
    alarm.refresh_from_db()
    assert action.status == "applied" and action.applied_at is not None
    assert alarm.state == "normal"  # it had returned; acknowledging a returned alarm makes it normal
    event = AlarmEvent.objects.filter(alarm=alarm).last()
    assert (event.reason, event.actor, event.user) == ("acknowledged", "facility_manager", manager)


def test_shelve_with_reason_and_duration_and_comment_are_recorded(client, make_user, world):
    start = time.time() - 300  # operator actions carry wall-clock times: run the service near now
    svc = AlarmService(clock=Clock(start))
    feed_series(svc, world["iso"], "differential_pressure_pa", [(t, -1.0) for t in every(start, start + 120, 10)])
    alarm = Alarm.objects.get(key="iso-1", rule="pressure_not_negative")
    assert alarm.state == "active_unacknowledged"
    manager = login(client, make_user, roles.FACILITY_MANAGER)
    url = reverse("environment:alarm-action", args=[alarm.pk, "shelve"])
    assert client.post(url, {"reason": "", "minutes": 60}, HTTP_ACCEPT="application/json").status_code == 400
    r = client.post(url, {"reason": "damper being replaced", "minutes": 60}, HTTP_ACCEPT="application/json")
    assert r.status_code == 202 and r.json()["action"]["kind"] == "shelve"
    shelve = AlarmAction.objects.get(kind="shelve")
    assert shelve.text == "damper being replaced" and shelve.user == manager
    assert timedelta(minutes=59) < shelve.until - shelve.created_at <= timedelta(minutes=60, seconds=1)
    svc.tick(time.time())
    alarm.refresh_from_db()
    assert alarm.state == "shelved" and alarm.shelved_by == "facility_manager"
    assert alarm.shelve_reason == "damper being replaced"
    r = client.post(reverse("environment:alarm-action", args=[alarm.pk, "comment"]), {"text": "engineer on the way"})
    assert r.status_code == 302
    comment = AlarmAction.objects.get(kind="comment")
    assert (comment.status, comment.username, comment.text) == ("recorded", "facility_manager", "engineer on the way")
    # Nurses may comment but not shelve.
    client.logout()
    login(client, make_user, roles.NURSE)
    assert client.post(url, {"reason": "noise", "minutes": 15}).status_code == 403
    assert client.post(reverse("environment:alarm-action", args=[alarm.pk, "comment"]),
                       {"text": "door was propped open"}).status_code == 302
    assert AlarmAction.objects.filter(kind="comment").count() == 2


def test_pages_open_for_the_roles_that_may_see_them(client, make_user, excursion):
    alarm = excursion["alarm"]
    assert client.get(reverse("environment:console")).status_code == 302  # anonymous: to the login page
    login(client, make_user, roles.FACILITY_MANAGER)
    for name, args in [("environment:console", []), ("environment:overview", []),
                       ("environment:alarm-detail", [alarm.pk]), ("environment:sensor", ["fridge-1"]),
                       ("environment:sensor-log", ["fridge-1"]), ("environment:sensor-monitoring", ["fridge-1"]),
                       ("environment:excursions", []), ("environment:console-snapshot", [])]:
        assert client.get(reverse(name, args=args)).status_code == 200, name
    page = client.get(reverse("environment:sensor", args=["fridge-1"]) + "?range=7d").content.decode()
    assert "<svg" in page and "excursion" in page and "&gt; 8 °C" in page
    svg = client.get(reverse("environment:sensor-chart", args=["fridge-1"]))
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    console = client.get(reverse("environment:console")).content.decode()
    assert "!!" in console and "MEDIUM" in console  # priority as text and shape, not colour alone
    client.logout()
    login(client, make_user, roles.NURSE)
    assert client.get(reverse("environment:console")).status_code == 200
    assert client.get(reverse("environment:sensor-monitoring", args=["fridge-1"])).status_code == 403
    assert client.get(reverse("environment:excursions")).status_code == 403


def test_excursion_report_as_csv_and_pdf(client, make_user, excursion, monkeypatch):
    login(client, make_user, roles.FACILITY_MANAGER)
    ex = Excursion.objects.get()
    r = client.post(reverse("environment:excursion-detail", args=[ex.pk]), {"text": "Vaccines quarantined; "
                                                                                    "compressor serviced"})
    assert r.status_code == 302
    ex.refresh_from_db()
    assert ex.corrective_action_by is not None and ex.corrective_action_at is not None
    csv_r = client.get(reverse("environment:excursions-csv") + "?sensor=fridge-1")
    assert csv_r.status_code == 200 and csv_r["Content-Type"].startswith("text/csv")
    body = csv_r.content.decode()
    header, row = body.splitlines()[:2]
    assert header.startswith("sensor,where,rule,quantity,limit")
    assert "fridge-1" in row and "temperature_high" in row and "9.50" in row and "Vaccines quarantined" in row
    assert "normal -> active_unacknowledged" in row  # the alarm history
    monkeypatch.setattr(compliance, "PDF_COMPRESS", False)
    pdf = client.get(reverse("environment:excursions-pdf") + f"?id={ex.pk}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert b"fridge-1" in pdf.content and b"temperature_high" in pdf.content and b"Vaccines quarantined" in pdf.content
    assert client.get(reverse("environment:excursion-detail", args=[ex.pk])).status_code == 200


def test_daily_log_review_is_recorded_with_who_and_what_they_saw(client, make_user, excursion):
    day = timezone.localdate()
    manager = login(client, make_user, roles.FACILITY_MANAGER)
    # readings of today so the row has values
    svc = AlarmService(clock=Clock(timezone.now().timestamp()))
    now = timezone.now().timestamp()
    feed_series(svc, excursion["fridge"], "temperature_c", [(now - 120, 4.0), (now - 60, 6.0)])
    r = client.post(reverse("environment:sensor-log", args=["fridge-1"]), {"day": day.isoformat(), "note": "ok"})
    assert r.status_code == 302
    review = TemperatureLogReview.objects.get()
    assert (review.reviewed_by, review.day, review.min_c, review.max_c, review.current_c) == (manager, day, 4.0, 6.0, 6.0)
    page = client.get(reverse("environment:sensor-log", args=["fridge-1"])).content.decode()
    assert "facility_manager" in page
    client.logout()
    login(client, make_user, roles.NURSE)
    r = client.post(reverse("environment:sensor-log", args=["fridge-1"]), {"day": day.isoformat()})
    assert r.status_code == 403


def test_profile_override_is_audited_and_used_by_the_service(client, make_user, world):
    svc = AlarmService(clock=Clock())
    manager = login(client, make_user, roles.FACILITY_MANAGER)
    url = reverse("environment:sensor-monitoring", args=["fridge-1"])
    r = client.post(url, {"profile": "", "temperature_high__threshold": "8.5", "temperature_high__on_delay_s": "600",
                          "reason": ""})
    assert r.status_code == 200 and not ProfileChange.objects.exists()  # a reason is required
    r = client.post(url, {"profile": "", "temperature_high__threshold": "8.5", "temperature_high__on_delay_s": "600",
                          "reason": "buffered probe; manufacturer's advice"})
    assert r.status_code == 302
    change = ProfileChange.objects.get()
    assert change.changed_by == manager and change.reason == "buffered probe; manufacturer's advice"
    assert change.before["effective_profile"] == "vaccine_fridge"
    assert change.after["rule_overrides"] == {"temperature_high": {"threshold": 8.5, "on_delay_s": 600.0}}
    assert "temperature_high.threshold: profile -> 8.5" in change.summary
    svc.refresh(T0)
    rule = svc.units["fridge-1"].profile.rule("temperature_high")
    assert (rule.threshold, rule.on_delay_s) == (8.5, 600.0)
    feed_series(svc, world["fridge"], "temperature_c", [(t, 8.7) for t in every(T0 + 60, T0 + 900, 60)])
    assert Alarm.objects.get(key="fridge-1", rule="temperature_high").state == "active_unacknowledged"
    # Audit records cannot be changed or deleted.
    from sensors.environment.models import ImmutableError

    with pytest.raises(ImmutableError):
        change.reason = "edited"
        change.save()
    with pytest.raises(ImmutableError):
        change.delete()


def test_a_sensor_record_change_outside_the_form_is_audited_too(world):
    fridge = world["fridge"]
    fridge.profile = "blood_fridge"
    fridge.save()
    change = ProfileChange.objects.get()
    assert change.before["effective_profile"] == "vaccine_fridge" and change.after["effective_profile"] == "blood_fridge"
    assert change.changed_by is None


ENV_MODELS = [m for m in apps.get_models() if m._meta.app_label == "environment"]


@pytest.mark.parametrize("model", ENV_MODELS, ids=lambda m: m._meta.label)
def test_every_model_has_an_admin_with_columns_filters_and_search(model, client, make_user):
    assert admin.site.is_registered(model)
    model_admin = admin.site._registry[model]
    assert len(model_admin.list_display) >= 3 and model_admin.search_fields and model_admin.list_filter
    client.force_login(make_user(roles.ADMINISTRATOR))
    opts = model._meta
    assert client.get(f"/admin/{opts.app_label}/{opts.model_name}/?q=x").status_code == 200
    assert client.get(f"/admin/{opts.app_label}/{opts.model_name}/add/").status_code in (200, 403)


@pytest.mark.parametrize("model", ["alarmevent", "alarmaction", "profilechange", "deliveryattempt"])
def test_audit_records_are_read_only_in_the_admin(model, client, make_user, excursion):
    client.force_login(make_user(roles.ADMINISTRATOR))
    assert client.get(f"/admin/environment/{model}/add/").status_code == 403
    event = AlarmEvent.objects.first()
    page = client.get(f"/admin/environment/alarmevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="reason"' not in page.content


def test_an_impossible_stored_temperature_is_left_out_of_mkt_and_named_not_a_server_error(client, make_user, world):
    """A faulty probe or import stored -300 °C: the fridge page still opens, MKT ignores that value and says so."""
    from sensors.models import Reading

    fridge = world["fridge"]
    now = timezone.now()
    for minutes, value in ((30, 5.0), (20, 5.0), (10, -300.0), (5, float("nan"))):
        Reading.objects.create(sensor=fridge, quantity="temperature_c", t=now - timedelta(minutes=minutes), value=value)
    login(client, make_user, roles.FACILITY_MANAGER)
    response = client.get(reverse("environment:sensor", args=[fridge.sensor_id]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "5.00 °C</strong> from 2 readings" in page and "2 impossible readings" in page
