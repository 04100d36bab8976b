"""Alarm states, priorities and the immutable transition event.

States follow ISA-18.2 / IEC 62682; priorities follow IEC 60601-1-8 (high = immediate response,
medium = prompt response, low = awareness). Every change of an alarm's state is recorded as one
frozen :class:`Event`; nothing else in the alarm core is an audit record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class AlarmState(StrEnum):
    NORMAL = "normal"
    UNACK = "active_unacknowledged"
    ACKED = "active_acknowledged"
    RTNUN = "returned_unacknowledged"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


class Priority(StrEnum):
    HIGH = "high"  # immediate response
    MEDIUM = "medium"  # prompt response
    LOW = "low"  # awareness


ACTIVE_STATES = frozenset({AlarmState.UNACK, AlarmState.ACKED})
# States in which the alarm is deliberately not annunciated whatever the process does.
OVERLAY_STATES = frozenset({AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE})

# Reason codes carried by events (the text after a colon, if any, is the human detail).
REASON_ALARM = "alarm"  # the condition held for the on-delay
REASON_RETURN = "return"  # the condition was clear for the off-delay
REASON_REALARM = "realarm"  # acknowledged but still active for realarm_s: annunciated again
REASON_ACK = "acknowledged"
REASON_SHELVED = "shelved"
REASON_SHELVE_EXPIRED = "shelve_expired"
REASON_UNSHELVED = "unshelved"
REASON_SUPPRESSED = "suppressed"
REASON_UNSUPPRESSED = "unsuppressed"
REASON_OUT_OF_SERVICE = "out_of_service"
REASON_IN_SERVICE = "returned_to_service"


@dataclass(frozen=True, slots=True)
class Event:
    """One transition of one alarm (one rule on one sensor).

    ``t`` is the Unix time at which the transition happened. That is the exact time an on-delay or
    off-delay completed, even if the evaluator only noticed it at a later reading or tick.
    """

    t: float
    rule: str
    key: str
    from_state: AlarmState
    to_state: AlarmState
    priority: Priority
    value: float | None
    reason: str
    actor: str | None = None

    @property
    def is_occurrence(self) -> bool:
        """A new alarm occurrence: from a non-active state into an active one (a re-alarm is not)."""
        return self.to_state in ACTIVE_STATES and self.from_state not in ACTIVE_STATES

    @property
    def is_realarm(self) -> bool:
        return self.reason == REASON_REALARM

    @property
    def is_annunciation(self) -> bool:
        """Anything that (re)starts the alarm signal for the operator: occurrences and re-alarms."""
        return self.to_state == AlarmState.UNACK

    def to_dict(self) -> dict:
        d = asdict(self)
        d["from_state"] = str(self.from_state)
        d["to_state"] = str(self.to_state)
        d["priority"] = str(self.priority)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Event:
        return cls(
            t=float(d["t"]), rule=d["rule"], key=d["key"],
            from_state=AlarmState(d["from_state"]), to_state=AlarmState(d["to_state"]),
            priority=Priority(d["priority"]), value=d.get("value"), reason=d.get("reason", ""),
            actor=d.get("actor"),
        )
