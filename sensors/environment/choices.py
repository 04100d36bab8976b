"""Controlled vocabularies of environmental monitoring."""

from django.db import models


class AlarmState(models.TextChoices):
    """ISA-18.2 / IEC 62682 states (the values of ``sensors.alarms.AlarmState``)."""

    NORMAL = "normal", "Normal"
    UNACK = "active_unacknowledged", "Active, unacknowledged"
    ACKED = "active_acknowledged", "Active, acknowledged"
    RTNUN = "returned_unacknowledged", "Returned, unacknowledged"
    SHELVED = "shelved", "Shelved"
    SUPPRESSED = "suppressed", "Suppressed by design"
    OUT_OF_SERVICE = "out_of_service", "Out of service"


ACTIVE_STATES = frozenset({AlarmState.UNACK, AlarmState.ACKED})
# States an operator still has to deal with (shown on the console).
OPEN_STATES = frozenset({AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTNUN, AlarmState.SHELVED,
                         AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE})


class Priority(models.TextChoices):
    """IEC 60601-1-8: high = immediate response, medium = prompt response, low = awareness."""

    HIGH = "high", "High (immediate response)"
    MEDIUM = "medium", "Medium (prompt response)"
    LOW = "low", "Low (awareness)"


PRIORITY_RANK = {"high": 3, "medium": 2, "low": 1}


def at_least(priority: str, minimum: str) -> bool:
    return PRIORITY_RANK.get(str(priority), 0) >= PRIORITY_RANK.get(str(minimum), 0)


class ActionKind(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    SHELVE = "shelve", "Shelve"
    UNSHELVE = "unshelve", "Unshelve"
    COMMENT = "comment", "Comment"
    SUPPRESS = "suppress", "Suppress (maintenance)"
    UNSUPPRESS = "unsuppress", "End suppression"
    OUT_OF_SERVICE = "out_of_service", "Take out of service"
    RETURN_TO_SERVICE = "return_to_service", "Return to service"
    ESCALATE = "escalate", "Escalated"


# Actions the alarm state machine must apply (the others are records only).
EVALUATOR_ACTIONS = frozenset({
    ActionKind.ACKNOWLEDGE, ActionKind.SHELVE, ActionKind.UNSHELVE, ActionKind.SUPPRESS, ActionKind.UNSUPPRESS,
    ActionKind.OUT_OF_SERVICE, ActionKind.RETURN_TO_SERVICE,
})


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the alarm service"
    APPLIED = "applied", "Applied"
    NO_OP = "no_op", "Nothing to do (state had already changed)"
    FAILED = "failed", "Failed"
    RECORDED = "recorded", "Recorded"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class NotificationKind(models.TextChoices):
    ALARM = "alarm", "Alarm"
    TRANSITION = "transition", "State change"
    ESCALATION = "escalation", "Escalation"
    FLOOD_START = "flood_start", "Alarm flood started"
    FLOOD_END = "flood_end", "Alarm flood ended"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    SUPPRESSED = "suppressed", "Not sent: alarm flood (summarised)"
