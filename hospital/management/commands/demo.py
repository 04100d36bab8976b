"""The main job: the demo hospital, live, in one command.

Migrates, loads the demo hospital when the database is empty, starts the embedded MQTT broker (when
``MQTT_URL`` is unset), ingest, the simulator and alarm evaluation, and serves the web app with
daphne. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

log = logging.getLogger(__name__)

DEMO_LOGINS = (
    ("nurse", "demo-nurse", "live map and equipment search"),
    ("engineer", "demo-engineer", "maintenance board"),
    ("facility", "demo-facility", "alarm console and environment"),
    ("admin", "demo-admin", "everything, plus the Django admin"),
)


class Command(BaseCommand):
    help = "Run the demo hospital live: web app, MQTT broker, ingest and simulator in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Interface for the web server (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port for the web server (default 8000).")
        parser.add_argument("--no-simulator", action="store_true", help="Do not start the simulated gateways.")

    def handle(self, *args, **options):
        from hospital.assets.models import Asset

        self.stdout.write("Preparing the database…")
        call_command("migrate", interactive=False, verbosity=0)
        if not Asset.objects.exists():
            call_command("load_demo", stdout=self.stdout)
            self.shorten_demo_delays()
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)

        from hospital.runner import ServiceGroup
        from sensors.mqtt.embedded import EmbeddedBroker

        broker = None
        if settings.MQTT_EMBEDDED:
            broker = EmbeddedBroker(port=settings.EMBEDDED_MQTT_PORT)
            broker.start()
        group = ServiceGroup()
        for name, run in self.demo_services(options):
            group.add(name, run)
        group.start()

        self.print_banner(options)
        try:
            self.serve(options)
        finally:
            self.stdout.write("Stopping…")
            group.stop()
            if broker:
                broker.stop()
            self.stdout.write("Stopped cleanly.")

    def shorten_demo_delays(self):
        """The vaccine fridge whose compressor the simulator breaks gets a short on-delay, so the alarm
        shows within minutes instead of after CDC's 30. Done as an audited override, visible in the admin."""
        from django.contrib.auth import get_user_model

        from sensors.environment.services import save_override
        from sensors.models import Sensor

        fridge = Sensor.objects.filter(sensor_id="env-seh-vrf-0001").first()
        admin = get_user_model().objects.filter(username="admin").first()
        if fridge is None or admin is None:
            return
        save_override(
            fridge, admin, profile="",
            rules={"temperature_high": {"on_delay_s": 120}, "temperature_high_critical": {"on_delay_s": 120}},
            reason="Demo: the simulated compressor failure alarms within minutes (CDC's 30-minute delay shortened).",
        )

    def demo_services(self, options):
        """The background parts of the demo. Each later feature adds its worker here."""
        from hospital import demo_services

        return demo_services.services(simulator=not options["no_simulator"])

    def print_banner(self, options):
        url = f"http://{options['host']}:{options['port']}/"
        lines = [
            "",
            f"  The demo hospital is running at {url}",
            f"  MQTT broker: {settings.MQTT_URL}{' (embedded amqtt)' if settings.MQTT_EMBEDDED else ''}",
            f"  Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
            "  Demo logins (user / password):",
            *(f"    {user:<9} {password:<14} {what}" for user, password, what in DEMO_LOGINS),
            "  Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        sys.stdout.flush()

    def serve(self, options):
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from hospital.asgi import application

        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=options["host"], port=options["port"]),
            signal_handlers=True,
            verbosity=0,
        ).run()
