"""Shared fixtures."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from hospital import roles


@pytest.fixture
def make_user(db):
    """Create a user in one of the four roles (groups are synced by migrate)."""

    def make(role: str, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or role.replace(" ", "_"), password="pw-for-tests-only",
            is_staff=role == roles.ADMINISTRATOR,
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def pytest_sessionstart(session):
    """In CI (REQUIRE_SERVICES=1) refuse to run on the embedded defaults: fail loudly instead."""
    import os

    if os.environ.get("REQUIRE_SERVICES") != "1":
        return
    from django.conf import settings

    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if settings.MQTT_EMBEDDED:
        problems.append("MQTT_URL is not set (would use the embedded broker)")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set (would use the in-memory channel layer)")
    if problems:
        raise pytest.UsageError("REQUIRE_SERVICES=1 but " + "; ".join(problems))
