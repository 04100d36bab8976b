"""The user's devices: enrol an authenticator app (TOTP), issue one-time backup codes (a django-otp static
device), check a code at login, reset everything when a phone is lost. Codes are checked by django-otp,
which also throttles wrong ones (each failure doubles the wait before the device accepts another try)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user, verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit

log = logging.getLogger("hospital.security")

AUTHENTICATOR = "Authenticator app"
BACKUP = "Backup codes"
BACKUP_CODE_COUNT = 10
TOTP_CODE = re.compile(r"^\d{6}$")


def normalise(code: str) -> str:
    """What people type: spaces or dashes between groups, any case."""
    return re.sub(r"[\s-]+", "", code or "").lower()


def pending_authenticator(user) -> TOTPDevice:
    """The not yet confirmed authenticator being set up (the same secret until it is confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def confirm_authenticator(user, device: TOTPDevice, code: str) -> bool:
    """The first code from the app proves it holds the secret; then it replaces any older authenticator."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
        if not device.verify_token(normalise(code)):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        replaced = TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()[0]
        audit.record(user, user, "authenticator app enrolled" + (" (replacing the previous one)" if replaced else ""))
    return True


def authenticator(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def new_backup_codes(user) -> list[str]:
    """Replace the user's backup codes with new ones, shown once (stored as django-otp keeps them)."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP, defaults={"confirmed": True})
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
        if not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        audit.record(user, user, f"{BACKUP_CODE_COUNT} new backup codes issued (older ones no longer work)")
    return codes


@dataclass(frozen=True)
class Check:
    device: object | None  # the device that accepted the code
    wait_s: int = 0  # > 0: every device that could take this code is throttled for this long


def check_code(user, code: str) -> Check:
    """Six digits go to the authenticator, anything else to the backup codes (each works once)."""
    code = normalise(code)
    kind = TOTPDevice if TOTP_CODE.match(code) else StaticDevice
    wait = 0
    for device in devices_for_user(user, confirmed=True):
        if not isinstance(device, kind):
            continue
        allowed, info = device.verify_is_allowed()
        if not allowed:
            until = (info or {}).get("locked_until")
            wait = max(wait, int((until - timezone.now()).total_seconds()) + 1 if until else 1)
            continue
        accepted = verify_token(user, device.persistent_id, code)
        if accepted is not None:
            return Check(accepted)
    return Check(None, wait)


def reset(target, actor) -> int:
    """Remove every device of ``target`` (lost phone): next login is with the password alone, and an
    administrator under ``ADMIN_2FA_REQUIRED`` is asked to enrol again. Returns how many were removed."""
    with transaction.atomic():
        removed = 0
        for device in list(devices_for_user(target, confirmed=None)):
            device.delete()
            removed += 1
        audit.record(actor, target, f"reset, {removed} device(s) removed")
    return removed
