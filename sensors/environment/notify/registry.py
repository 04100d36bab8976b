"""The registry of notification channels: each channel is a small module that registers itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0


class Channel:
    """A way to reach a person or a system. ``deliver`` sends one message for a group of notifications
    (the ones with the same ``group_key`` that are due together) and never raises."""

    kind: str = ""
    max_attempts: int = 5

    def group_key(self, notification) -> str:
        return f"{notification.channel}:{notification.pk}"

    def max_attempts_for(self, notification) -> int:
        return self.max_attempts

    def deliver(self, notifications: list) -> Result:  # pragma: no cover - interface
        raise NotImplementedError


_channels: dict[str, Channel] = {}


def register(cls: type[Channel]) -> type[Channel]:
    _channels[cls.kind] = cls()
    return cls


def get(kind: str) -> Channel:
    try:
        return _channels[kind]
    except KeyError:
        raise KeyError(f"no notification channel {kind!r}; registered: {', '.join(sorted(_channels))}") from None


def kinds() -> list[str]:
    return sorted(_channels)
