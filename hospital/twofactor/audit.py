"""Enrolment, new backup codes and resets are recorded in the admin log of the user they concern (the
user's *History* page in the admin, like asset status changes) and logged on ``hospital.security``."""

from __future__ import annotations

import logging

from django.contrib.admin.models import CHANGE, LogEntry

log = logging.getLogger("hospital.security")


def record(actor, target, what: str) -> None:
    message = f"Two-factor login: {what}"
    LogEntry.objects.log_actions(actor.pk, [target], CHANGE, change_message=message, single_object=True)
    if actor.pk == target.pk:
        log.info("%s (user %r)", message, target.get_username())
    else:
        log.info("%s (user %r, by %r)", message, target.get_username(), actor.get_username())


def history(user) -> list[LogEntry]:
    from django.contrib.contenttypes.models import ContentType

    return list(LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(user), object_id=str(user.pk),
        change_message__startswith="Two-factor login:",
    ).order_by("-action_time"))
