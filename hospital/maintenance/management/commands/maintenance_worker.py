"""``manage.py maintenance_worker [--every SECONDS]``: keeps usage and forecasts current.

Every cycle (default hourly) it derives yesterday's and today's usage from the locator; once a day (the
first cycle of the day) it runs the forecast job. Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from hospital.maintenance.worker import run


class Command(BaseCommand):
    help = "Derive usage from the locator every cycle and run the forecast job once a day, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=3600.0, help="Seconds between cycles (default 3600).")

    def handle(self, *args, every=3600.0, **options):
        shutdown = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: shutdown.set())
        self.stdout.write(f"Maintenance worker: a cycle every {every:.0f}s; Ctrl-C or SIGTERM stops it.")
        run(shutdown, every)
