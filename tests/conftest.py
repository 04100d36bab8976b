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
