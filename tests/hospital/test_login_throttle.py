"""Too many failed logins lock the user name out for a while, even with the right password."""

import pytest
from django.core.cache import cache

from hospital import roles


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def attempt(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_lockout_after_repeated_failures(make_user, client, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    make_user(roles.NURSE, username="sam")
    for _ in range(3):
        response = attempt(client, "sam", "wrong")
        assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated
    response = attempt(client, "sam", "pw-for-tests-only")  # right password, but locked out now
    assert not response.wsgi_request.user.is_authenticated


def test_success_resets_the_count(make_user, client, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    make_user(roles.NURSE, username="kim")
    attempt(client, "kim", "wrong")
    attempt(client, "kim", "wrong")
    response = attempt(client, "kim", "pw-for-tests-only")
    assert response.status_code == 302  # logged in, redirected
    client.logout()
    attempt(client, "kim", "wrong")
    attempt(client, "kim", "wrong")
    assert attempt(client, "kim", "pw-for-tests-only").status_code == 302
