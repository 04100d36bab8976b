"""What the demo runs beside the web server: one entry per background worker.

Each entry is ``(name, run)`` where ``run(stop_event)`` blocks until ``stop_event`` is set.
"""

from __future__ import annotations


def services(*, simulator: bool = True) -> list:
    parts: list = []
    return parts
