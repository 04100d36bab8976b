"""The maintenance worker: derive usage from the locator every cycle (yesterday and today), run the
forecast job once a day. ``run(stop_event)`` blocks until the event is set, in the shape the demo's
service group expects (``hospital/demo_services.py``); ``manage.py maintenance_worker`` runs it alone."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.db import close_old_connections
from django.utils import timezone

from .choices import RunStatus
from .forecasting import run_forecast
from .models import ForecastRun
from .usage_sync import derive_from_locator

log = logging.getLogger(__name__)


def cycle(today: dt.date | None = None) -> None:
    today = today or timezone.localdate()
    derive_from_locator(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    if not ForecastRun.objects.filter(as_of=today, status=RunStatus.DONE).exists():
        run_forecast(today, triggered_by="maintenance_worker")


def run(stop: threading.Event, every: float = 3600.0) -> None:
    while not stop.is_set():
        close_old_connections()
        try:
            cycle()
        except Exception:  # noqa: BLE001 - a failed cycle is logged and retried next time
            log.exception("maintenance cycle failed")
        close_old_connections()
        stop.wait(every)
