"""``manage.py ingest``: the long-running MQTT ingest worker.

Run one or more per site; with MQTT 5 they share the load through a shared subscription. SIGTERM
(or Ctrl-C) stops taking new messages, finishes the chunk in hand, and exits.
"""

import signal
import threading

from django.core.management.base import BaseCommand

from sensors.ingest.service import run_ingest


class Command(BaseCommand):
    help = "Consume gateway batches from MQTT and store readings, sightings and counters."

    def add_arguments(self, parser):
        parser.add_argument("--mqtt-url", help="Broker URL (default: MQTT_URL).")
        parser.add_argument("--site", default="+", help="Only this site's gateways (partition by site).")
        parser.add_argument("--client-id", help="MQTT client id; must be stable across restarts (persistent session).")

    def handle(self, *args, **options):
        stop = threading.Event()

        def shutdown(signum, frame):
            self.stderr.write(f"received signal {signum}: draining and stopping")
            stop.set()

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        run_ingest(stop, mqtt_url=options["mqtt_url"], site=options["site"], client_id=options["client_id"])
        self.stdout.write("ingest stopped cleanly")
