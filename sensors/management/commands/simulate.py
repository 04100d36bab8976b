"""``manage.py simulate``: the virtual gateway fleet of the demo hospital (docs/simulator.md).

Publishes one batch per gateway per second to MQTT exactly as real gateways do, and writes the ground
truth it used to ``--truth-dir``. SIGTERM or Ctrl-C stops it cleanly (gateways announced offline).
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from sensors.simulator.scenarios import parse_scenarios
from sensors.simulator.service import simulator_service


class Command(BaseCommand):
    help = "Simulate the demo hospital's BLE gateways, tags and sensors, publishing to MQTT."

    def add_arguments(self, parser):
        parser.add_argument("--mqtt-url", help="Broker URL (default: MQTT_URL).")
        parser.add_argument(
            "--speed",
            type=float,
            default=None,
            help="Simulated seconds per real second (default 1; 0 = as fast as possible).",
        )
        parser.add_argument(
            "--scenario",
            action="append",
            default=[],
            metavar="NAME[:TARGET]@START[-END]",
            help="Incident to script, seconds after the start (repeatable; 'none' for no "
            "incidents). Default: compressor_failure@60 isolation_pressure_loss@90 "
            "crowded_waiting_room@120.",
        )
        parser.add_argument(
            "--truth-dir", help="Where to write the ground truth (default: VAR_DIR/simulator)."
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="Stop after this many simulated seconds (default: run until stopped).",
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed (default 1).")
        parser.add_argument("--site", help="Site code in the MQTT topics (default: the floor plans' site).")
        parser.add_argument(
            "--activity", type=float, default=None, help="Multiply how often equipment is moved (default 1)."
        )

    def handle(self, *args, **options):
        try:
            parse_scenarios(options["scenario"])
        except ValueError as e:
            raise CommandError(str(e)) from None
        if options["speed"] is not None and options["speed"] < 0:
            raise CommandError("--speed must be >= 0")
        stop = threading.Event()

        def shutdown(signum, frame):
            self.stderr.write(f"received signal {signum}: stopping")
            stop.set()

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        sim = simulator_service(
            stop,
            mqtt_url=options["mqtt_url"],
            speed=options["speed"],
            scenarios=options["scenario"] or None,
            truth_dir=options["truth_dir"],
            duration=options["duration"],
            seed=options["seed"],
            activity=options["activity"],
            site=options["site"],
        )
        self.stdout.write(
            f"simulator stopped after {sim.t - sim.t0:.0f} simulated seconds: "
            f"{sim.stats['advertisements']} advertisements"
        )
