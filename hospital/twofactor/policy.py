"""Who needs a second factor, and whether a session has given one. The one place these rules live.

Every logged-in request asks "has this user enrolled?", so the answer (with "is in the administrator
group") is kept in the cache (Redis when ``REDIS_URL`` is set, shared by all web processes) for a few
minutes, refreshed at login and dropped whenever a device or the user's groups change (``signals``):
the pages' and the API's query budgets stay as they were. A user read through ``hospital.authcache``
also carries the answer in its process entry, which the same changes invalidate, so most requests do
not even read the cache.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp.models import Device

from hospital import authcache, roles

STATE_TTL_S = 300


def _key(user_id) -> str:
    return f"twofactor:user:{user_id}"


def _joined(user) -> float:
    # Part of the cached value: a restored or re-created database reuses ids, never join times.
    joined = getattr(user, "date_joined", None)
    return joined.timestamp() if joined else 0.0


def refresh(user) -> dict:
    state = {"joined": _joined(user), "device": user_has_device(user, confirmed=True),
             "admin_group": user.groups.filter(name=roles.ADMINISTRATOR).exists()}
    cache.set(_key(user.pk), state, STATE_TTL_S)
    return _keep(user, state)


def forget(user_id) -> None:
    """A device or the user's groups changed: drop the shared answer and every process's entries."""
    cache.delete(_key(user_id))
    authcache.bump()


def _keep(user, state: dict) -> dict:
    """Keep the answer on the user's authcache entry (when it came through hospital.authcache)."""
    entry = getattr(user, "_authcache_entry", None)
    if entry is not None:
        entry.twofactor = state
    return state


def _state(user) -> dict:
    kept = getattr(getattr(user, "_authcache_entry", None), "twofactor", None)
    if kept is not None:
        return kept
    state = cache.get(_key(user.pk))
    if state is None or state.get("joined") != _joined(user):
        return refresh(user)
    return _keep(user, state)


def is_administrator(user) -> bool:
    """Superusers, the administrator group, and anyone else who can open the Django admin (staff)."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.is_staff or _state(user)["admin_group"]


def has_device(user, fresh: bool = False) -> bool:
    """The user has enrolled (a confirmed authenticator or backup codes): a password alone is not enough.
    ``fresh`` asks the database, for the decisions taken once per login, where a cache of another
    process (no shared cache configured) must not decide."""
    return user.is_authenticated and (refresh(user) if fresh else _state(user))["device"]


def required() -> bool:
    return bool(getattr(settings, "ADMIN_2FA_REQUIRED", False))


def must_enrol(user) -> bool:
    """``ADMIN_2FA_REQUIRED`` is on, the user is an administrator and has no device yet."""
    return required() and is_administrator(user) and not has_device(user)


def password_alone_suffices(user) -> bool:
    """May this user get in with only a password (e.g. exchange it for an API token)?"""
    return not has_device(user, fresh=True) and not (required() and is_administrator(user))


def session_verified(user, session) -> bool:
    """The session holds a confirmed device of this user (set by ``django_otp.login`` after a code)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed
