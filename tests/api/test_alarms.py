"""Alarms over the API: list and filter, history, and operator actions with the console's permissions."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from hospital import roles
from sensors.environment.models import Alarm, AlarmAction

pytestmark = pytest.mark.django_db


@pytest.fixture
def alarm(tracked_world):
    sensor = tracked_world["sensor"]
    return Alarm.objects.create(key=sensor.sensor_id, rule="temperature_high", sensor=sensor, title=sensor.name,
                                state="active_unacknowledged", priority="high", since=timezone.now(), value=9.4)


def client_for(make_user, role):
    client = APIClient()
    client.force_authenticate(make_user(role))
    return client


def test_list_filters_and_requires_authentication(alarm, make_user):
    assert APIClient().get("/api/alarms/").status_code == 401
    client = client_for(make_user, roles.FACILITY_MANAGER)
    body = client.get("/api/alarms/?active=true&priority=high").json()
    assert [a["rule"] for a in body["results"]] == ["temperature_high"]
    assert body["results"][0]["sensor"] == "fridge-1"
    assert client.get("/api/alarms/?active=false").json()["results"] == []


def test_facility_manager_acknowledges_and_shelves_nurse_may_not(alarm, make_user):
    manager = client_for(make_user, roles.FACILITY_MANAGER)
    response = manager.post(f"/api/alarms/{alarm.pk}/acknowledge/", {"text": "on my way"}, format="json")
    assert response.status_code == 202 and response.json()["kind"] == "acknowledge"
    assert manager.post(f"/api/alarms/{alarm.pk}/shelve/", {"text": "defrost"}, format="json").status_code == 400
    shelved = manager.post(f"/api/alarms/{alarm.pk}/shelve/", {"text": "service visit", "minutes": 30},
                           format="json")
    assert shelved.status_code == 202 and shelved.json()["until"]
    nurse = client_for(make_user, roles.NURSE)
    assert nurse.post(f"/api/alarms/{alarm.pk}/acknowledge/", {}, format="json").status_code == 403
    kinds = list(AlarmAction.objects.filter(alarm=alarm).order_by("pk").values_list("kind", "username"))
    assert kinds == [("acknowledge", "facility_manager"), ("shelve", "facility_manager")]
