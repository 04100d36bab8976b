"""Login throttling: after too many failed logins for one user name (or from one address) further
attempts are refused for a while, whatever the password. Applies to every login (site, admin, API).

Counts live in the cache (Redis in production, so every web process shares them).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from .authcache import CachedUserMixin

log = logging.getLogger("hospital.security")


def _limits() -> tuple[int, int]:
    return (int(getattr(settings, "LOGIN_FAILURES_ALLOWED", 5)), int(getattr(settings, "LOGIN_LOCKOUT_S", 900)))


def _keys(request, username: str | None) -> list[str]:
    address = (request.META.get("REMOTE_ADDR") if request is not None else None) or "unknown"
    return [f"login-fail:user:{(username or '').lower()}", f"login-fail:addr:{address}"]


def locked_out(request, username: str | None) -> bool:
    allowed, _ = _limits()
    user_key, addr_key = _keys(request, username)
    # An address gets more room than a user name: a ward PC is shared by many people.
    return (cache.get(user_key, 0) >= allowed) or (cache.get(addr_key, 0) >= allowed * 4)


def record_failure(request, username: str | None) -> None:
    _, lockout = _limits()
    for key in _keys(request, username):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, lockout)


def clear_failures(request, username: str | None) -> None:
    cache.delete(_keys(request, username)[0])


class ThrottledModelBackend(CachedUserMixin, ModelBackend):
    """Throttled logins; the signed-in user and their permissions kept per process (``hospital.authcache``)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field())
        if locked_out(request, username):
            log.warning("login refused for %r: too many failed attempts", username)
            raise PermissionDenied("too many failed login attempts; try again later")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(request, username)
            log.info("failed login for %r", username)
        else:
            clear_failures(request, username)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
