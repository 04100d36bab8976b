"""Notification channels behind one registry (``registry.get(kind)``): ``email`` and ``webhook``.
A new channel (SMS gateway, pager) is one module with a ``Channel`` subclass and ``@register``."""

from . import email, webhook  # noqa: F401 - registration
from .registry import Channel, Result, get, kinds, register

__all__ = ["Channel", "Result", "get", "kinds", "register"]
