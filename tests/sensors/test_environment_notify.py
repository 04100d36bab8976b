"""Getting the message to a person: e-mail, signed webhooks with retries, escalation, flood summaries."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from hospital import roles
from sensors.environment.alarm_service import AlarmService
from sensors.environment.models import (
    Alarm,
    AlarmAction,
    AlarmFlood,
    DeliveryAttempt,
    EscalationPolicy,
    EscalationStep,
    Notification,
    WebhookEndpoint,
)
from sensors.environment.notifications import deliver_due, escalate
from sensors.environment.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.sensors.test_environment_support import T0, Clock, every, feed_series, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, floor):
    return make_world(floor)


@pytest.fixture
def fridge_world(world):
    """Only the fridge is watched: no silent isolation-room sensor, no gateway to go quiet."""
    world["iso"].delete()
    world["gateway"].enabled = False
    world["gateway"].save()
    return world


@pytest.fixture
def manager(make_user):
    user = make_user(roles.FACILITY_MANAGER, "fatima")
    user.email = "fatima@hospital.example"
    user.save()
    return user


@pytest.fixture
def admin_on_call(make_user):
    user = make_user(roles.ADMINISTRATOR, "alex")
    user.email = "alex@hospital.example"
    user.save()
    return user


def critical_fridge(svc, fridge, minutes: int = 20):
    """13 C: above the vaccine fridge's critical limit (12 C, high, 15 min) but short of the 30-min warning."""
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(T0, T0 + 300, 60)])
    feed_series(svc, fridge, "temperature_c", [(t, 13.0) for t in every(T0 + 360, T0 + 360 + minutes * 60, 60)])


def test_a_high_priority_alarm_is_emailed_to_the_facility_managers(fridge_world, manager):
    svc = AlarmService(clock=Clock())
    critical_fridge(svc, fridge_world["fridge"])
    alarm = Alarm.objects.get(key="fridge-1", rule="temperature_high_critical")
    assert alarm.priority == "high" and alarm.state == "active_unacknowledged"
    pending = Notification.objects.get(channel="email", alarm=alarm)
    assert pending.target == "fatima@hospital.example" and pending.status == "pending"
    assert deliver_due() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["fatima@hospital.example"]
    assert "[HIGH]" in message.subject and "Vaccine refrigerator VRF-1" in message.subject
    assert f"/environment/alarms/{alarm.pk}/" in message.body
    pending.refresh_from_db()
    assert pending.status == "sent" and pending.attempts == 1
    assert DeliveryAttempt.objects.get(notification=pending).ok


def test_a_low_priority_alarm_is_not_emailed_by_the_default_policy(fridge_world, manager):
    svc = AlarmService(clock=Clock())
    for t in every(T0, T0 + 400, 10):  # the fridge sensor never reports: sensor_offline is medium
        svc.tick(t)
    assert Notification.objects.filter(alarm__rule="sensor_offline").count() == 1
    feed_series(svc, fridge_world["fridge"], "battery_pct", [(t, 10.0) for t in every(T0 + 400, T0 + 2400, 60)])
    assert Alarm.objects.get(rule="battery_low").state == "active_unacknowledged"
    battery = Alarm.objects.filter(rule="battery_low")
    assert not Notification.objects.filter(alarm__in=battery).exists()


class Receiver(BaseHTTPRequestHandler):
    """A paging system: fails the first request, accepts the next ones, remembers what it got."""

    received: list = []
    fail_first = 1

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        code = 500 if len(Receiver.received) <= Receiver.fail_first else 204
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_is_signed_and_retried_with_backoff(fridge_world, receiver, monkeypatch):
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    endpoint = WebhookEndpoint.objects.create(name="pager", url=receiver, secret="s3cret", min_priority="high",
                                              all_transitions=False)
    svc = AlarmService(clock=Clock())
    critical_fridge(svc, fridge_world["fridge"])
    note = Notification.objects.get(channel="webhook")
    assert note.endpoint == endpoint and note.payload["event"] == "alarm.raised"
    now = timezone.now()
    assert deliver_due(now) == 1
    note.refresh_from_db()
    assert (note.status, note.attempts, note.last_error) == ("retrying", 1, "HTTP 500")
    assert note.next_attempt_at == now + timedelta(seconds=30)
    assert deliver_due(now + timedelta(seconds=10)) == 0  # not due yet
    assert deliver_due(now + timedelta(seconds=31)) == 1
    note.refresh_from_db()
    assert (note.status, note.attempts) == ("sent", 2)
    assert [a.status_code for a in DeliveryAttempt.objects.filter(notification=note).order_by("at")] == [500, 204]
    assert len(Receiver.received) == 2
    for headers, body in Receiver.received:
        assert verify("s3cret", body, headers[SIGNATURE_HEADER])
        assert not verify("wrong", body, headers[SIGNATURE_HEADER])
        payload = json.loads(body)
        assert payload["id"] == note.pk and str(payload["sent_at"]) == headers[TIMESTAMP_HEADER]
        assert payload["alarm"]["rule"] == "temperature_high_critical" and payload["alarm"]["priority"] == "high"
        assert headers["X-Hospital-Event"] == "alarm.raised"


def test_webhook_gives_up_after_max_attempts(fridge_world, receiver):
    Receiver.fail_first = 99
    try:
        WebhookEndpoint.objects.create(name="pager", url=receiver, secret="x", max_attempts=2)
        svc = AlarmService(clock=Clock())
        critical_fridge(svc, fridge_world["fridge"])
        note = Notification.objects.filter(channel="webhook").first()
        deliver_due(timezone.now())
        deliver_due(timezone.now() + timedelta(minutes=5))
        note.refresh_from_db()
        assert (note.status, note.attempts) == ("failed", 2)
    finally:
        Receiver.fail_first = 1


def test_an_alarm_unacknowledged_for_n_minutes_is_escalated_once(fridge_world, manager, admin_on_call):
    policy = EscalationPolicy.objects.get()  # the default: managers at once, administrators after 15 min
    assert list(policy.steps.values_list("level", "after_minutes")) == [(0, 0), (1, 15)]
    svc = AlarmService(clock=Clock())
    critical_fridge(svc, fridge_world["fridge"])
    alarm = Alarm.objects.get(key="fridge-1", rule="temperature_high_critical")
    assert escalate(alarm.annunciated_at + timedelta(minutes=14)) == 0
    assert escalate(alarm.annunciated_at + timedelta(minutes=16)) == 1
    assert escalate(alarm.annunciated_at + timedelta(minutes=20)) == 0  # once per level
    alarm.refresh_from_db()
    assert alarm.escalation_level == 1
    esc = Notification.objects.get(kind="escalation")
    assert esc.target == "alex@hospital.example" and esc.level == 1 and "ESCALATED" in esc.subject
    action = AlarmAction.objects.get(alarm=alarm, kind="escalate")
    assert "level 1" in action.text and "alex@hospital.example" in action.text
    deliver_due()
    assert any("ESCALATED" in m.subject for m in mail.outbox)


def test_an_acknowledged_alarm_is_not_escalated(fridge_world, manager, admin_on_call):
    svc = AlarmService(clock=Clock())
    critical_fridge(svc, fridge_world["fridge"])
    alarm = Alarm.objects.get(key="fridge-1", rule="temperature_high_critical")
    AlarmAction.objects.create(alarm=alarm, kind="acknowledge", user=manager, username="fatima")
    svc.tick(T0 + 1700)
    assert escalate(alarm.annunciated_at + timedelta(minutes=30)) == 0


def test_a_flood_of_11_alarms_in_10_minutes_sends_one_summary(fridge_world, manager):
    from hospital.facility.models import Room
    from sensors.models import Sensor

    fridge_world["fridge"].report_interval_s = 0  # keep its silence out of this flood
    fridge_world["fridge"].save()
    rooms = []
    for i in range(11):
        room = Room.objects.create(floor=fridge_world["floor"], number=f"9-{i:02d}", room_type="isolation_room",
                                   polygon=[[20 + i, 0], [21 + i, 0], [21 + i, 1], [20 + i, 1]])
        rooms.append(Sensor.objects.create(sensor_id=f"iso-{i + 10}", name=f"Isolation room 9-{i:02d}",
                                           mac_address=f"AA:00:00:00:01:{i:02X}", ble_format="bthome_v2",
                                           room=room, report_interval_s=0))
    svc = AlarmService(clock=Clock())
    t = T0
    for s in rooms:
        feed_series(svc, s, "differential_pressure_pa", [(t, -8.0)])
    for i, s in enumerate(rooms):  # one room after the other loses its negative pressure, 40 s apart
        feed_series(svc, s, "differential_pressure_pa", [(T0 + 30 + 40 * i + k * 10, -1.0) for k in range(5)])
    alarms = Alarm.objects.filter(rule="pressure_not_negative", state="active_unacknowledged")
    assert alarms.count() == 11
    flood = AlarmFlood.objects.get()
    assert flood.ended_at is None and flood.count == 11 and "pressure_not_negative" in flood.headline
    summaries = Notification.objects.filter(kind="flood_start")
    assert summaries.count() == 1 and summaries.get().target == "fatima@hospital.example"
    individual = Notification.objects.filter(kind="alarm", alarm__rule="pressure_not_negative")
    assert individual.filter(status="pending").count() == 10  # before the flood
    assert individual.filter(status="suppressed").count() == 1  # the 11th: summarised instead
    deliver_due()
    assert sum("ALARM FLOOD" in m.subject for m in mail.outbox) == 1
    # The flood ends once the rate calms down; that is said once too.
    for t in every(T0 + 600, T0 + 1400, 30):
        svc.tick(t)
    flood.refresh_from_db()
    assert flood.ended_at is not None
    assert Notification.objects.filter(kind="flood_end").count() == 1


def test_flood_recipients_are_the_level_0_group_members(fridge_world, manager):
    assert set(Group.objects.get(name=roles.FACILITY_MANAGER).user_set.values_list("email", flat=True)) == {
        "fatima@hospital.example"}
    assert EscalationStep.objects.filter(level=0).count() == 1
