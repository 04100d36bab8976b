"""``manage.py maintenance_worker [--every SECONDS]``: keeps usage and forecasts current.

Every cycle (default hourly) it derives today's and yesterday's usage from the locator; once a day (the
first cycle after midnight) it runs the forecast job. Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from hospital.maintenance.choices import RunStatus
from hospital.maintenance.forecasting import run_forecast
from hospital.maintenance.models import ForecastRun
from hospital.maintenance.usage_sync import derive_from_locator

log = logging.getLogger(__name__)


def cycle() -> None:
    today = timezone.localdate()
    derive_from_locator(today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    if not ForecastRun.objects.filter(as_of=today, status=RunStatus.DONE).exists():
        run_forecast(today, triggered_by="maintenance_worker")


class Command(BaseCommand):
    help = "Derive usage from the locator every cycle and run the forecast job once a day, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=3600.0, help="Seconds between cycles (default 3600).")

    def handle(self, *args, every=3600.0, **options):
        shutdown = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: shutdown.set())
        self.stdout.write(f"Maintenance worker: a cycle every {every:.0f}s; Ctrl-C or SIGTERM stops it.")
        while not shutdown.is_set():
            close_old_connections()
            try:
                cycle()
            except Exception:  # noqa: BLE001 - a failed cycle is logged and retried next time
                log.exception("maintenance cycle failed")
            close_old_connections()
            shutdown.wait(every)
