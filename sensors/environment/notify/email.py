"""E-mail through Django's mail backend (SMTP in production, the console backend in the demo).
Notifications due together for one address are sent as one message (grouping), so a burst of alarms
is one e-mail, not ten."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.mail import EmailMessage

from .registry import Channel, Result, register


@register
class EmailChannel(Channel):
    kind = "email"

    @property
    def max_attempts(self) -> int:  # type: ignore[override]
        return int(getattr(settings, "ALARM_EMAIL_MAX_ATTEMPTS", 5))

    def group_key(self, notification) -> str:
        if notification.kind in ("flood_start", "flood_end"):
            return f"email:{notification.target.lower()}:flood:{notification.pk}"  # a flood summary stands alone
        return f"email:{notification.target.lower()}"

    def deliver(self, notifications: list) -> Result:
        start = time.monotonic()
        first = notifications[0]
        if len(notifications) == 1:
            subject, body = first.subject, first.body
        else:
            high = sum(1 for n in notifications if n.priority == "high")
            subject = f"{len(notifications)} alarm notifications" + (f" ({high} high priority)" if high else "")
            body = "\n\n".join(f"=== {n.subject}\n\n{n.body}" for n in notifications)
        prefix = getattr(settings, "ALARM_EMAIL_SUBJECT_PREFIX", "[Hospital alarms] ")
        try:
            EmailMessage(subject=f"{prefix}{subject}"[:300], body=body, to=[first.target],
                         from_email=settings.DEFAULT_FROM_EMAIL).send()
        except Exception as exc:  # noqa: BLE001 - any mail failure is retried later
            return Result(False, error=f"{type(exc).__name__}: {exc}"[:500],
                          duration_ms=int((time.monotonic() - start) * 1000))
        return Result(True, duration_ms=int((time.monotonic() - start) * 1000))
