"""Who a signed-in user is and what they may do, kept per web process between requests.

Every page and API call needs the user's row and permissions: three queries (user, user permissions,
group permissions) that cost more CPU than the equipment search itself (bench/api_latency.py). Both
change rarely, so each process keeps them, and checks them on every request against one version
token in Django's cache (Redis in production, shared by every web process; local memory for a single
process). Saving or deleting a user, group or permission, and changing a user's groups or permissions
or a group's permissions, replaces the token at once and again when the transaction commits, so the
next request in every process reads the user afresh. Changes that send no signal (``QuerySet.update``
on users, raw SQL) are picked up within ``MAX_AGE_S``. When the cache cannot be reached, nothing is
kept and every request queries the database as Django does by default.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

log = logging.getLogger("hospital.security")

VERSION_KEY = "hospital.authcache.version"
MAX_AGE_S = 60.0
MAX_ENTRIES = 10000  # users kept per process; all dropped when exceeded (a rare, cheap event)


@dataclass
class _Entry:
    version: str
    expires: float
    user: object
    perms: frozenset | None = None
    twofactor: dict | None = None  # hospital.twofactor.policy's answer for this user


_entries: dict[int, _Entry] = {}
_failed = threading.local()


def current_version() -> str | None:
    """The version token every process compares its entries with; None when the cache is unreachable."""
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, uuid.uuid4().hex, None)
            version = cache.get(VERSION_KEY)
        _failed.logged = False
        return version
    except Exception:  # noqa: BLE001 - any cache failure: fall back to plain queries, never fail the request
        if not getattr(_failed, "logged", False):
            log.warning("auth cache unreachable; users and permissions are read from the database", exc_info=True)
            _failed.logged = True
        return None


def bump(*args, **kwargs) -> None:
    """Invalidate every process's users and permissions: now, and again when the transaction commits
    (a process reading between the two would otherwise keep the rows from before the commit)."""
    _replace_version()
    transaction.on_commit(_replace_version)


def _replace_version() -> None:
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001
        log.warning("auth cache unreachable; could not invalidate cached users", exc_info=True)
    _entries.clear()


def _valid(key: str, version: str, now: float) -> _Entry | None:
    entry = _entries.get(key)
    return entry if entry is not None and entry.version == version and entry.expires >= now else None


def _keep(key: str, entry: _Entry) -> _Entry:
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[key] = entry
    return entry


class CachedUserMixin:
    """For a ``ModelBackend``: ``get_user`` and ``get_all_permissions`` served from the process's entries.

    The version is read before the rows, so a change committed in between is never kept as current."""

    def get_user(self, user_id):
        version = current_version()
        if version is None:
            return super().get_user(user_id)
        key, now = str(user_id), time.monotonic()
        entry = _valid(key, version, now)
        if entry is None or entry.user is None:
            user = super().get_user(user_id)
            if user is None:
                _entries.pop(key, None)
                return None
            entry = _keep(key, _Entry(version, now + MAX_AGE_S, user))
        user = copy.copy(entry.user)  # the request may change its user; the kept one stays as read
        user._authcache_entry = entry
        return user

    def get_all_permissions(self, user_obj, obj=None):
        if obj is not None or not user_obj.is_active or user_obj.is_anonymous or hasattr(user_obj, "_perm_cache"):
            return super().get_all_permissions(user_obj, obj)
        entry = getattr(user_obj, "_authcache_entry", None)
        if entry is None:  # a user that did not come from get_user (API token): keep its permissions only
            version = current_version()
            if version is None:
                return super().get_all_permissions(user_obj, obj)
            key, now = str(user_obj.pk), time.monotonic()
            entry = _valid(key, version, now) or _keep(key, _Entry(version, now + MAX_AGE_S, None))
            user_obj._authcache_entry = entry
        if entry.perms is None:
            entry.perms = frozenset(super().get_all_permissions(user_obj, obj))
        user_obj._perm_cache = entry.perms
        return entry.perms


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db.models.signals import m2m_changed, post_delete, post_save

    user_model = get_user_model()
    for model in (user_model, Group, Permission):
        post_save.connect(bump, sender=model, dispatch_uid=f"authcache.save.{model._meta.label}")
        post_delete.connect(bump, sender=model, dispatch_uid=f"authcache.delete.{model._meta.label}")
    for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(bump, sender=through, dispatch_uid=f"authcache.m2m.{through._meta.label}")
