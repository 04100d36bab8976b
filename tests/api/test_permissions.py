"""Permissions beyond the roles: a permission granted to one user directly works through the API like a
role's. Who may do what by role, for every operation, is tests/api/test_permission_matrix.py."""

import pytest
from rest_framework.test import APIClient

from hospital import roles

pytestmark = pytest.mark.django_db


def test_readings_and_ingest_tables_follow_the_model_permissions(world, client_for, make_user):
    """A nurse has no reading or ingest table; one given ``view_reading`` reads readings and nothing more."""
    from django.contrib.auth.models import Permission

    admin = client_for(roles.ADMINISTRATOR)
    for url in ("/api/readings/", "/api/dead-letters/"):
        assert admin.get(url).status_code == 200
    user = make_user(roles.NURSE, username="nurse-with-readings")
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/readings/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_reading"))
    assert client.get("/api/readings/").status_code == 200
    assert client.get("/api/dead-letters/").status_code == 403
