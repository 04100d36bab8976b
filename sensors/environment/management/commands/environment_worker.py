"""``manage.py environment_worker``: escalation, notification delivery (e-mail, signed webhooks, with
retries), the per-minute/daily rollup of readings and retention. Runs until SIGTERM/SIGINT.

Alarm evaluation itself runs inside ingest (``manage.py ingest``), in the same transaction as the
readings; this worker only reads and writes the database, so a slow mail server or webhook never
slows ingest down. One worker is enough; two are safe (rows are leased with SKIP LOCKED).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Escalate and deliver alarm notifications, roll up readings and apply retention, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Do one round of everything and exit.")

    def handle(self, *args, **options):
        from sensors.environment.worker import EnvironmentWorker

        worker = EnvironmentWorker()
        if options["once"]:
            for task in worker.tasks:
                task[2]()
            return
        stop = threading.Event()

        def shutdown(signum, frame):
            self.stdout.write("stopping…")
            stop.set()

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        worker.run(stop)
