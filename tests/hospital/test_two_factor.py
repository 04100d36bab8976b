"""Two-factor login: the password then a code for users who enrolled; throttled wrong codes; backup codes
that work once; ``ADMIN_2FA_REQUIRED`` sending administrators to enrolment; resets; API tokens untouched."""

import logging
import re
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from hospital import roles
from hospital.twofactor import devices

PASSWORD = "pw-for-tests-only"


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def code_for(device, step_offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + step_offset * device.step
    return f"{totp.token():06d}"


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def password_step(client, username, next_url=""):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_without_a_device_the_password_is_enough(make_user, client):
    make_user(roles.NURSE, username="nina")
    response = password_step(client, "nina")
    assert response.status_code == 302 and response["Location"] == "/"
    assert is_logged_in(client)
    assert client.get("/").status_code == 200


def test_with_a_device_the_password_alone_does_not_log_in(make_user, client):
    user = make_user(roles.NURSE, username="nina")
    device = enrolled(user)
    response = password_step(client, "nina", next_url="/find/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/code/"
    assert not is_logged_in(client)
    assert client.get("/").status_code == 302  # still the login page for everything else
    page = client.get("/accounts/two-factor/code/")
    assert page.status_code == 200 and b"authenticator app" in page.content

    response = client.post("/accounts/two-factor/code/", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/find/"
    assert is_logged_in(client)
    assert client.get("/find/").status_code == 200
    device.refresh_from_db()
    assert device.last_used_at is not None


def test_a_wrong_code_is_refused_counted_and_throttled(make_user, client, caplog):
    user = make_user(roles.NURSE, username="nina")
    device = enrolled(user)
    password_step(client, "nina")
    with caplog.at_level(logging.WARNING, logger="hospital.security"):
        wrong = client.post("/accounts/two-factor/code/", {"code": f"{(int(code_for(device)) + 1) % 10**6:06d}"})
    assert wrong.status_code == 200 and b"not right" in wrong.content
    assert not is_logged_in(client)
    assert "wrong two-factor code for 'nina'" in caplog.text
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # shown in the admin's device list

    # django-otp's throttle: right after a failure even the right code is not tried.
    throttled = client.post("/accounts/two-factor/code/", {"code": code_for(device)})
    assert throttled.status_code == 200 and b"wait" in throttled.content
    assert not is_logged_in(client)

    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(seconds=5))
    assert client.post("/accounts/two-factor/code/", {"code": code_for(device)}).status_code == 302
    assert is_logged_in(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_too_many_wrong_codes_end_the_login_and_lock_the_account(make_user, client, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # look past django-otp's delay to see the login lockout
    user = make_user(roles.NURSE, username="nina")
    device = enrolled(user)
    password_step(client, "nina")
    for _ in range(2):
        assert client.post("/accounts/two-factor/code/", {"code": "000000"}).status_code == 200
    third = client.post("/accounts/two-factor/code/", {"code": "000000"})
    assert third.status_code == 302 and third["Location"] == "/accounts/login/"
    assert client.get("/accounts/two-factor/code/").status_code == 302  # the half-done login is gone
    # Wrong codes count like wrong passwords: even the right password is refused for a while now.
    password_step(client, "nina")
    assert not is_logged_in(client)
    assert client.post("/accounts/two-factor/code/", {"code": code_for(device)}).status_code == 302
    assert not is_logged_in(client)


def test_the_code_step_expires(make_user, client, monkeypatch):
    user = make_user(roles.NURSE, username="nina")
    device = enrolled(user)
    password_step(client, "nina")
    later = time.time() + 301
    monkeypatch.setattr("hospital.twofactor.pending.time.time", lambda: later)
    response = client.post("/accounts/two-factor/code/", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not is_logged_in(client)


def test_enrolment_shows_a_qr_code_and_secret_and_needs_a_code(make_user, client):
    user = make_user(roles.ENGINEER, username="erin")
    client.force_login(user)
    page = client.get("/accounts/two-factor/enrol/")
    html = page.content.decode()
    assert page.status_code == 200 and '<svg class="qr" role="img"' in html
    assert "https://" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = re.search(r'id="secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    import base64

    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    assert client.get("/accounts/two-factor/enrol/").content.decode().count(re.search(r'id="secret">([^<]+)<', html)
                                                                           .group(1)) == 1  # same secret on reload

    wrong = client.post("/accounts/two-factor/enrol/", {"code": "000000"})
    assert wrong.status_code == 200 and b"does not match" in wrong.content
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    done = client.post("/accounts/two-factor/enrol/", {"code": code_for(device)})
    assert done.status_code == 200 and b"backup codes" in done.content
    device.refresh_from_db()
    assert device.confirmed
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", done.content.decode())
    assert len(codes) == 10 and set(codes) == set(StaticToken.objects.filter(device__user=user)
                                                   .values_list("token", flat=True))
    assert client.get("/").status_code == 200  # this session gave the code: it stays logged in
    audit = [e.change_message for e in LogEntry.objects.filter(object_id=str(user.pk))]
    assert any("authenticator app enrolled" in m for m in audit) and any("backup codes issued" in m for m in audit)


def test_a_backup_code_works_once(make_user, client):
    user = make_user(roles.NURSE, username="nina")
    enrolled(user)
    codes = devices.new_backup_codes(user)
    password_step(client, "nina")
    response = client.post("/accounts/two-factor/code/", {"code": codes[0].upper()[:4] + " " + codes[0][4:]})
    assert response.status_code == 302 and is_logged_in(client)
    assert devices.backup_codes_left(user) == 9
    client.post("/accounts/logout/")

    password_step(client, "nina")
    again = client.post("/accounts/two-factor/code/", {"code": codes[0]})
    assert again.status_code == 200 and not is_logged_in(client)
    StaticDevice.objects.filter(user=user).update(throttling_failure_count=0)
    assert client.post("/accounts/two-factor/code/", {"code": codes[1]}).status_code == 302
    assert is_logged_in(client)


def test_a_session_that_never_gave_a_code_is_ended(make_user, client):
    """Logged in before enrolling on another browser (here: force_login), the session is dropped."""
    user = make_user(roles.NURSE, username="nina")
    client.force_login(user)
    assert client.get("/").status_code == 200
    enrolled(user)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not is_logged_in(client)
    api = APIClient()
    api.force_login(user)
    assert api.get("/api/assets/").status_code == 401
    stale = type(client)()
    stale.force_login(user)  # an Authorization header does not make an unverified session count
    assert stale.get("/find/", HTTP_AUTHORIZATION="Basic bm9ib2R5Om5vdGhpbmc=").status_code == 302


def test_the_admin_login_asks_for_the_code_too(make_user, client):
    admin_user = make_user(roles.ADMINISTRATOR, username="ada")
    device = enrolled(admin_user)
    response = client.get("/admin/login/?next=/admin/facility/room/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/admin/facility/room/"
    assert client.get("/admin/").status_code == 302
    password_step(client, "ada", next_url="/admin/facility/room/")
    assert client.get("/admin/").status_code == 302  # password alone: still out
    response = client.post("/accounts/two-factor/code/", {"code": code_for(device)})
    assert response["Location"] == "/admin/facility/room/"
    assert client.get("/admin/facility/room/").status_code == 200


@pytest.fixture
def required(settings):
    settings.ADMIN_2FA_REQUIRED = True


def test_required_sends_administrators_to_enrolment_until_verified(make_user, client, required):
    make_user(roles.ADMINISTRATOR, username="ada")
    password_step(client, "ada")
    assert is_logged_in(client)
    for path in ("/admin/", "/admin/auth/user/", "/", "/map/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/two-factor/enrol/?next="), path
    assert client.get("/api/assets/").status_code == 403
    page = client.get("/accounts/two-factor/enrol/?next=/admin/")
    assert page.status_code == 200 and b"must use two-factor" in page.content

    device = TOTPDevice.objects.get(user__username="ada", confirmed=False)
    done = client.post("/accounts/two-factor/enrol/", {"code": code_for(device), "next": "/admin/"})
    assert done.status_code == 200 and b'href="/admin/"' in done.content
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/assets/").status_code == 200


def test_required_applies_to_superusers_and_staff_but_not_to_other_roles(make_user, client, required):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", password=PASSWORD)
    for username, expect_enrolment in (("root", True), ("nurse", False)):
        if username == "nurse":
            make_user(roles.NURSE)
        client.post("/accounts/logout/")
        password_step(client, username)
        response = client.get("/")
        assert (response.status_code == 302 and "/two-factor/enrol/" in response["Location"]) is expect_enrolment


def test_required_blocks_unenrolled_administrators_on_websockets(make_user, client, required, same_transaction):
    make_user(roles.ADMINISTRATOR, username="ada")
    password_step(client, "ada")
    assert websocket_close_code(client) == 4401
    make_user(roles.NURSE, username="nina")
    other = type(client)()
    password_step(other, "nina")
    assert websocket_close_code(other) is None  # accepted


@pytest.fixture
def same_transaction(monkeypatch):
    """Consumers' database work runs in this thread (asgiref's thread-sensitive mode) inside the test's
    transaction; channels would close that connection before each call, so it is kept."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def websocket_close_code(client):
    from hospital.asgi import application

    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def connect():
        comm = WebsocketCommunicator(application, "/ws/alarms/", headers=[
            (b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie)])
        connected, code = await comm.connect(timeout=5)
        await comm.disconnect()
        return None if connected else code

    return async_to_sync(connect)()


def test_a_websocket_needs_the_code_when_the_user_has_a_device(make_user, client, same_transaction):
    user = make_user(roles.NURSE, username="nina")
    device = enrolled(user)
    unverified = type(client)()
    unverified.force_login(user)  # a session that never gave a code
    assert websocket_close_code(unverified) == 4401
    password_step(client, "nina")
    client.post("/accounts/two-factor/code/", {"code": code_for(device)})
    assert websocket_close_code(client) is None


def test_api_tokens_are_unaffected(make_user, required):
    """Integrations authenticate with a token, not a session: no code is asked for, even for an
    administrator's token under ADMIN_2FA_REQUIRED."""
    admin_user = make_user(roles.ADMINISTRATOR, username="ada")
    nurse = make_user(roles.NURSE, username="nina")
    enrolled(nurse)
    for user in (admin_user, nurse):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        assert client.get("/api/assets/").status_code == 200, user
        assert client.patch(f"/api/assets/{0}/", {}, format="json").status_code in (403, 404)


def test_the_token_endpoint_is_no_way_round_the_code(make_user, settings):
    nurse = make_user(roles.NURSE, username="nina")
    make_user(roles.ADMINISTRATOR, username="ada")
    client = APIClient()

    def token_for(username):
        return client.post("/api/auth/token/", {"username": username, "password": PASSWORD}, format="json")

    assert token_for("nina").status_code == 200
    assert token_for("ada").status_code == 200
    enrolled(nurse)
    refused = token_for("nina")
    assert refused.status_code == 400 and "two-factor" in refused.content.decode()
    settings.ADMIN_2FA_REQUIRED = True
    assert token_for("ada").status_code == 400


def test_an_administrator_resets_a_lost_phone_in_the_admin(make_user, client):
    nurse = make_user(roles.NURSE, username="nina")
    enrolled(nurse)
    devices.new_backup_codes(nurse)
    admin_user = make_user(roles.ADMINISTRATOR, username="ada")
    client.force_login(admin_user)
    listing = client.get("/admin/auth/user/?two_factor=on")
    assert listing.status_code == 200 and b">nina</a>" in listing.content and b">ada</a>" not in listing.content
    response = client.post("/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [nurse.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=nurse).exists() and not StaticDevice.objects.filter(user=nurse).exists()
    entry = LogEntry.objects.filter(object_id=str(nurse.pk), change_message__contains="reset").get()
    assert entry.user_id == admin_user.pk and "2 device(s)" in entry.change_message
    other = type(client)()
    password_step(other, "nina")
    assert is_logged_in(other)  # the password alone again, until she enrols anew


def test_a_nurse_cannot_reset_devices(make_user, client):
    nurse = make_user(roles.NURSE, username="nina")
    enrolled(nurse)
    nurse.is_staff = True
    nurse.save()
    client.force_login(nurse)
    client.post("/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [nurse.pk]})
    assert TOTPDevice.objects.filter(user=nurse).exists()


def test_turning_it_off_needs_a_code(make_user, client, settings):
    user = make_user(roles.ENGINEER, username="erin")
    device = enrolled(user)
    password_step(client, "erin")
    client.post("/accounts/two-factor/code/", {"code": code_for(device)})
    client.post("/accounts/two-factor/disable/", {"code": "000000"})
    assert TOTPDevice.objects.filter(user=user).exists()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    client.post("/accounts/two-factor/disable/", {"code": code_for(device, step_offset=1)})
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert client.get("/").status_code == 200  # still logged in, now without two-factor


def test_the_two_factor_page_shows_the_state(make_user, client):
    user = make_user(roles.NURSE, username="nina")
    client.force_login(user)
    assert b"Set up two-factor login" in client.get("/accounts/two-factor/").content
    assert client.get("/accounts/two-factor/").status_code == 200
    anonymous = type(client)()
    assert anonymous.get("/accounts/two-factor/")["Location"].startswith("/accounts/login/")
    assert anonymous.get("/accounts/two-factor/code/")["Location"] == "/accounts/login/"


def test_deploy_check_warns_while_administrators_need_no_code(settings):
    from hospital.twofactor.checks import admin_two_factor_required

    settings.ADMIN_2FA_REQUIRED = False
    assert [w.id for w in admin_two_factor_required()] == ["twofactor.W001"]
    settings.ADMIN_2FA_REQUIRED = True
    assert admin_two_factor_required() == []


def test_joining_the_administrator_group_takes_effect_at_once(make_user, client, required):
    """The "enrolled? administrator?" answers are cached; changing groups or devices drops them."""
    from django.contrib.auth.models import Group

    nurse = make_user(roles.NURSE, username="nina")
    password_step(client, "nina")
    assert client.get("/").status_code == 200
    Group.objects.get(name=roles.ADMINISTRATOR).user_set.add(nurse)
    assert "/two-factor/enrol/" in client.get("/")["Location"]
    nurse.groups.remove(Group.objects.get(name=roles.ADMINISTRATOR))
    assert client.get("/").status_code == 200


def test_the_login_asks_the_database_not_a_stale_cache(make_user, client):
    """Another web process without a shared cache may still hold "no device": the login step must not
    believe it."""
    from hospital.twofactor import policy

    user = make_user(roles.NURSE, username="nina")
    assert policy.has_device(user) is False  # cached now
    TOTPDevice.objects.bulk_create([TOTPDevice(user=user, name="phone", confirmed=True)])  # no signal: cache stale
    assert policy.has_device(user) is False
    response = password_step(client, "nina")
    assert response["Location"] == "/accounts/two-factor/code/" and not is_logged_in(client)
