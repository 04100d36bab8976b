"""Two-factor login in headless Chromium: a nurse sets up an authenticator app from the QR page (the key
read off the page, as a person would type it into the app), gets backup codes, logs out, and logs in
again with the password and then a code."""

from __future__ import annotations

import base64
import re
import time

import pytest

from tests.web.conftest import PASSWORD
from tests.web.test_browser import off_thread

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for the key on the page (RFC 6238, 30 s, six digits)."""
    from django_otp.oath import TOTP

    key = secret.replace(" ", "")
    totp = TOTP(base64.b32decode(key + "=" * (-len(key) % 8)), step=30, t0=0, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


@pytest.fixture
def nurse_2fa(test_database, django_db_blocker, live_server_url):
    """A committed nurse (the server's threads must see her), deleted afterwards with her devices."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from hospital import roles

    def create():
        user = get_user_model().objects.create_user("tf-nurse", password=PASSWORD)
        user.groups.add(Group.objects.get(name=roles.NURSE))

    with django_db_blocker.unblock():
        off_thread(create)
        yield live_server_url
        off_thread(lambda: get_user_model().objects.filter(username="tf-nurse").delete())


def log_in(page, password: str = PASSWORD):
    page.goto("/accounts/login/")
    page.fill("#id_username", "tf-nurse")
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")


def test_enrol_then_log_in_with_a_code(nurse_2fa, browser, artifacts):
    context = browser.new_context(base_url=nurse_2fa, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10000)
    page = context.new_page()
    log_in(page)
    page.wait_for_url(f"{nurse_2fa}/")

    page.click("text=Two-factor")
    page.wait_for_url("**/accounts/two-factor/")
    page.click("text=Set up two-factor login")
    page.wait_for_url("**/accounts/two-factor/enrol/")
    assert page.locator("svg.qr").is_visible()
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", secret)
    page.screenshot(path=str(artifacts / "two-factor-enrol.png"), full_page=True)
    page.fill("#id_code", totp_code(secret))
    page.click("main form button[type=submit]")  # not the header's log-out button
    page.locator("#backup-codes").wait_for()
    codes = page.locator("#backup-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{8}", c) for c in codes)
    page.click("text=Continue")
    page.wait_for_url("**/accounts/two-factor/")
    assert "On." in page.locator("main").inner_text()

    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")
    log_in(page)
    page.wait_for_url("**/accounts/two-factor/code/")
    page.fill("#id_code", "000000")
    page.click("main form button[type=submit]")
    assert "not right" in page.locator("[role=alert]").inner_text()
    time.sleep(1.1)  # django-otp's throttle after one wrong code
    page.fill("#id_code", totp_code(secret, steps_ahead=1))  # a fresh code: the enrolment one is spent
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{nurse_2fa}/")
    assert "Live map" in page.locator("nav.tiles").inner_text()
    context.close()
