"""What each role can and cannot do."""

import pytest
from django.contrib.auth.models import Group

from hospital import roles


@pytest.mark.django_db
def test_every_role_exists_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)


@pytest.mark.django_db
def test_sync_roles_is_idempotent():
    first = roles.sync_roles()
    second = roles.sync_roles()
    assert first == second
    assert Group.objects.filter(name__in=roles.ROLES).count() == 4


# (role, permission, allowed)
MATRIX = [
    (roles.NURSE, "assets.view_asset", True),
    (roles.NURSE, "assets.change_asset_status", True),
    (roles.NURSE, "assets.change_asset", False),
    (roles.NURSE, "assets.delete_asset", False),
    (roles.NURSE, "sensors.change_sensor", False),
    (roles.NURSE, "sensors.view_gateway", False),
    (roles.NURSE, "facility.change_room", False),
    (roles.ENGINEER, "assets.add_asset", True),
    (roles.ENGINEER, "assets.change_asset", True),
    (roles.ENGINEER, "locator.change_tag", True),
    (roles.ENGINEER, "sensors.view_sensor", True),
    (roles.ENGINEER, "sensors.change_sensor", False),
    (roles.ENGINEER, "facility.change_room", False),
    (roles.FACILITY_MANAGER, "sensors.change_sensor", True),
    (roles.FACILITY_MANAGER, "sensors.add_gateway", True),
    (roles.FACILITY_MANAGER, "assets.change_asset", False),
    (roles.FACILITY_MANAGER, "assets.view_asset", True),
    (roles.ADMINISTRATOR, "facility.change_room", True),
    (roles.ADMINISTRATOR, "auth.change_user", True),
]


@pytest.mark.parametrize("role,perm,allowed", MATRIX, ids=[f"{r}:{p}" for r, p, _ in MATRIX])
def test_permission_matrix(make_user, role, perm, allowed):
    assert make_user(role).has_perm(perm) is allowed


def test_only_administrators_reach_the_admin(make_user, client):
    for role, expected in [(roles.NURSE, 302), (roles.ADMINISTRATOR, 200)]:
        client.force_login(make_user(role))
        assert client.get("/admin/").status_code == expected
        client.logout()


def test_nurse_cannot_edit_assets_in_admin_even_as_staff(make_user, client):
    nurse = make_user(roles.NURSE)
    nurse.is_staff = True
    nurse.save()
    client.force_login(nurse)
    assert client.get("/admin/assets/asset/").status_code == 200  # may look
    assert client.get("/admin/assets/asset/add/").status_code == 403  # may not add
