"""Pages: the two-step login (password, then code), the user's two-factor page, enrolment of an
authenticator app, backup codes, and turning two-factor off. The admin's login sends here too."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import FormView
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from hospital.auth import clear_failures, locked_out, record_failure

from . import audit, devices, pending, policy, qr
from .forms import CodeForm

log = logging.getLogger("hospital.security")


def _next(request, default: str = "twofactor:index") -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return reverse(default)


class LoginView(auth_views.LoginView):
    """Step 1, the password. Someone with a confirmed device is not logged in yet: step 2 asks for a code."""

    def form_valid(self, form):
        user = form.get_user()
        if not policy.has_device(user, fresh=True):
            return super().form_valid(form)
        pending.start(self.request, user, self.get_success_url())
        return redirect("twofactor:code")


def admin_login(request, extra_context=None):
    """The Django admin's login: ours, so the code is asked for there too."""
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


class CodeView(FormView):
    """Step 2: a code from the authenticator app, or one of the backup codes."""

    template_name = "twofactor/code.html"
    form_class = CodeForm

    def dispatch(self, request, *args, **kwargs):
        self.state = pending.get(request)
        self.user = pending.user_of(self.state) if self.state else None
        if self.user is None:
            if request.user.is_authenticated:  # nothing half done: already logged in
                return redirect("home")
            messages.info(request, "Please log in again.")
            return redirect("login")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(username=self.user.get_username(), **kwargs)

    def form_valid(self, form):
        request, username = self.request, self.user.get_username()
        if locked_out(request, username):
            pending.clear(request)
            messages.error(request, "Too many failed attempts; try again later.")
            return redirect("login")
        result = devices.check_code(self.user, form.cleaned_data["code"])
        if result.device is None:
            return self._refused(form, username, result.wait_s)
        pending.clear(request)
        auth_login(request, self.user, backend=self.state["backend"])
        otp_login(request, result.device)
        clear_failures(request, username)
        if isinstance(result.device, StaticDevice):
            left = devices.backup_codes_left(self.user)
            log.info("backup code used by %r, %d left", username, left)
            messages.warning(request, f"You used a backup code; {left} left. Make new ones on your two-factor page "
                                      "if you are running out.")
        return redirect(self.state["next"])

    def _refused(self, form, username: str, wait_s: int):
        if wait_s:  # django-otp's throttle: no code was even tried
            log.warning("two-factor code for %r refused: throttled for %d s", username, wait_s)
            form.add_error("code", f"Too many wrong codes: wait {wait_s} seconds, then enter a fresh code.")
            return self.form_invalid(form)
        failures = pending.failed(self.request, self.state)
        record_failure(self.request, username)  # counts towards the login lockout, like a wrong password
        log.warning("wrong two-factor code for %r (%d in this login)", username, failures)
        if failures >= int(getattr(settings, "LOGIN_FAILURES_ALLOWED", 5)):
            pending.clear(self.request)
            messages.error(self.request, "Too many wrong codes. Log in again.")
            return redirect("login")
        form.add_error("code", "That code is not right. Enter the code your app shows now, or a backup code.")
        return self.form_invalid(form)


@login_required
def index(request):
    user = request.user
    return render(request, "twofactor/index.html", {
        "authenticator": devices.authenticator(user), "backup_left": devices.backup_codes_left(user),
        "required": policy.required() and policy.is_administrator(user), "history": audit.history(user)[:10],
    })


@login_required
def enrol(request):
    """Show the QR code and secret of a new authenticator; a code from the app confirms it."""
    user = request.user
    device = devices.pending_authenticator(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if devices.confirm_authenticator(user, device, form.cleaned_data["code"]):
            device.refresh_from_db()
            otp_login(request, device)  # this session has just proved the second factor
            codes = devices.new_backup_codes(user)
            messages.success(request, "Two-factor login is on. From now on you log in with your password and a code.")
            return render(request, "twofactor/backup_codes.html", {"codes": codes, "next": _next(request)})
        log.warning("wrong code while %r was enrolling an authenticator", user.get_username())
        form.add_error("code", "That code does not match. Check the app's clock and enter the code it shows now.")
    label = f"QR code to add {user.get_username()} to an authenticator app"
    return render(request, "twofactor/enrol.html", {
        "form": form, "qr": qr.svg(device.config_url, label), "secret": qr.readable_secret(device.bin_key),
        "replacing": devices.authenticator(user) is not None, "next": _next(request),
        "must_enrol": policy.must_enrol(user),
    })


@login_required
@require_POST
def backup_codes(request):
    """New backup codes (the old ones stop working), shown once."""
    if devices.authenticator(request.user) is None:
        return HttpResponseBadRequest("Set up an authenticator app first.")
    codes = devices.new_backup_codes(request.user)
    return render(request, "twofactor/backup_codes.html", {"codes": codes, "next": reverse("twofactor:index")})


@login_required
@require_POST
def disable(request):
    """Turn two-factor off, with a current code (a borrowed session alone cannot). Not for administrators
    while ``ADMIN_2FA_REQUIRED`` is on."""
    user = request.user
    if policy.required() and policy.is_administrator(user):
        messages.error(request, "Administrators must keep two-factor login on (ADMIN_2FA_REQUIRED).")
        return redirect("twofactor:index")
    form = CodeForm(request.POST)
    if not form.is_valid() or devices.check_code(user, form.cleaned_data["code"]).device is None:
        log.warning("wrong code while %r was turning two-factor login off", user.get_username())
        messages.error(request, "That code is not right; two-factor login stays on.")
        return redirect("twofactor:index")
    devices.reset(user, user)
    messages.success(request, "Two-factor login is off.")
    return redirect("twofactor:index")
