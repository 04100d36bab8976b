"""The per-process user and permission cache (hospital/authcache.py): fewer queries per request, and
every change to who may do what applies at the next request."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from hospital import authcache, roles

FIND = reverse("locator:find-json")


def queries(client, url, **kwargs):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **kwargs)
    return response, [q["sql"] for q in ctx.captured_queries]


@pytest.fixture(autouse=True)
def own_version_key(monkeypatch):
    """A version token of this test's own: other test runs sharing the Redis of CI bump the real one."""
    import uuid

    monkeypatch.setattr(authcache, "VERSION_KEY", f"{authcache.VERSION_KEY}.test.{uuid.uuid4().hex}")


@pytest.fixture
def nurse_client(client, make_user):
    nurse = make_user(roles.NURSE)
    client.force_login(nurse)
    return client, nurse


def test_a_signed_in_user_costs_no_query_after_the_first_request(nurse_client):
    client, _ = nurse_client
    first, first_sql = queries(client, FIND, data={"q": "pump"})
    again, again_sql = queries(client, FIND, data={"q": "pump"})
    assert first.status_code == again.status_code == 200
    assert any("auth_user" in q for q in first_sql) and any("auth_permission" in q for q in first_sql)
    # Only the search itself remains, and the session where it is not read from a shared cache.
    assert not any("auth_user" in q or "auth_permission" in q for q in again_sql)
    searches = [q for q in again_sql if "search_text" in q]
    sessions = [q for q in again_sql if "django_session" in q]
    assert len(searches) == 1 and len(again_sql) == 1 + len(sessions), again_sql
    assert len(sessions) == (0 if settings.SESSION_ENGINE.endswith("cached_db") else 1), again_sql


def test_sessions_are_read_from_the_shared_cache_when_there_is_one(nurse_client):
    """With Redis every process reads sessions from it (one query less per request); a per-process cache
    must never serve sessions, or a logout in one process would leave the session alive in another."""
    client, _ = nurse_client
    shared = "redis" in settings.CACHES["default"]["BACKEND"].lower()
    assert settings.SESSION_ENGINE.endswith("cached_db") == shared
    assert client.get(FIND, data={"q": "pump"}).status_code == 200  # the session is in the cache now
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post(reverse("logout"))
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert replay.get(FIND, data={"q": "pump"}).status_code == 302  # ended: not served from the cache


def test_losing_the_role_applies_at_the_next_request(nurse_client):
    client, nurse = nurse_client
    assert client.get(FIND, {"q": "pump"}).status_code == 200
    nurse.groups.remove(Group.objects.get(name=roles.NURSE))
    assert client.get(FIND, {"q": "pump"}).status_code == 403
    nurse.groups.add(Group.objects.get(name=roles.NURSE))
    assert client.get(FIND, {"q": "pump"}).status_code == 200


def test_a_permission_taken_from_the_group_applies_at_the_next_request(nurse_client):
    client, _ = nurse_client
    assert client.get(FIND, {"q": "pump"}).status_code == 200
    group = Group.objects.get(name=roles.NURSE)
    group.permissions.remove(Permission.objects.get(codename="view_asset", content_type__app_label="assets"))
    assert client.get(FIND, {"q": "pump"}).status_code == 403


def test_deactivated_or_new_password_signs_out_at_the_next_request(nurse_client, make_user):
    client, nurse = nurse_client
    assert client.get(FIND, {"q": "pump"}).status_code == 200
    nurse.is_active = False
    nurse.save()
    assert client.get(FIND, {"q": "pump"}).status_code == 302  # to the login page

    engineer = make_user(roles.ENGINEER)
    client.force_login(engineer)
    assert client.get(FIND, {"q": "pump"}).status_code == 200
    engineer.set_password("another-password-for-tests")
    engineer.save()
    assert client.get(FIND, {"q": "pump"}).status_code == 302  # the session's password hash no longer matches


def test_a_change_made_by_another_process_applies_at_the_next_request(nurse_client):
    """Another process changes the database and replaces the shared version token; this process's
    signals never fire."""
    client, nurse = nurse_client
    assert client.get(FIND, {"q": "pump"}).status_code == 200
    type(nurse).objects.filter(pk=nurse.pk).update(is_active=False)  # no signal
    assert client.get(FIND, {"q": "pump"}).status_code == 200  # still the kept row: nothing said it changed
    cache.set(authcache.VERSION_KEY, "replaced-by-another-process", None)
    assert client.get(FIND, {"q": "pump"}).status_code == 302


def test_a_change_without_any_signal_applies_within_max_age(nurse_client, monkeypatch):
    client, nurse = nurse_client
    assert client.get(FIND, {"q": "pump"}).status_code == 200
    type(nurse).objects.filter(pk=nurse.pk).update(is_active=False)
    now = authcache.time.monotonic()
    monkeypatch.setattr(authcache.time, "monotonic", lambda: now + authcache.MAX_AGE_S + 1)
    assert client.get(FIND, {"q": "pump"}).status_code == 302


def test_api_token_users_keep_their_permissions_until_they_change(client, make_user):
    nurse = make_user(roles.NURSE)
    token = Token.objects.create(user=nurse)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    first, first_sql = queries(client, "/api/assets/", **auth)
    again, again_sql = queries(client, "/api/assets/", **auth)
    assert first.status_code == again.status_code == 200
    assert any("auth_permission" in q for q in first_sql) and not any("auth_permission" in q for q in again_sql)
    nurse.groups.clear()
    assert client.get("/api/assets/", **auth).status_code == 403


def test_without_a_reachable_cache_every_request_reads_the_database(nurse_client, monkeypatch, caplog):
    client, _ = nurse_client

    class Unreachable:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache down")
            return fail

    monkeypatch.setattr(authcache, "cache", Unreachable())  # the version token only: other users of the cache
    for _ in range(2):
        response, sql = queries(client, FIND, data={"q": "pump"})
        assert response.status_code == 200
        assert any("auth_user" in q for q in sql) and any("auth_permission" in q for q in sql)
    assert "auth cache unreachable" in caplog.text
