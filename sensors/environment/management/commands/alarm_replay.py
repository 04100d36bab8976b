"""``manage.py alarm_replay``: replay recorded readings through the live alarm state machine.

A thin wrapper over ``sensors.alarms.replay`` (the same ``Evaluator`` as ingest): prints one JSON line
per transition ``{"t", "sensor", "rule", "from", "to", "priority", "value", "reason"}`` and, last, the
summary ``{"alarms", "time_in_alarm_s", "mkt_c", ...}``. ``--list-profiles`` lists the profiles.
"""

from __future__ import annotations

import io
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from sensors.alarms.profiles import default_catalog, load_profiles
from sensors.alarms.replay import ReplayError, build_parser, list_profiles, replay


class Command(BaseCommand):
    help = ("Replay readings (CSV t,sensor,quantity,value) through the alarm state machine with a profile; "
            "prints one JSON line per transition and a summary.")

    def add_arguments(self, parser):
        core = build_parser()
        for action in core._actions:
            if action.dest == "help":
                continue
            kwargs = {"dest": action.dest, "default": action.default, "help": action.help}
            if action.nargs == 0:
                kwargs["action"] = "store_true"
            else:
                kwargs["type"] = action.type
                kwargs["metavar"] = action.metavar
            parser.add_argument(*action.option_strings, **kwargs)

    def handle(self, *args, **options):
        try:
            catalog = load_profiles(options["profiles_file"]) if options.get("profiles_file") else default_catalog()
            if options["list_profiles"]:
                for item in list_profiles(catalog):
                    self.stdout.write(json.dumps(item))
                return
            if not options.get("profile") or not options.get("readings"):
                raise CommandError("--profile and --readings are required (or --list-profiles)")
            source = options["readings"]
            if source == "-":
                source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
            for item in replay(source, options["profile"], ack_after=options.get("ack_after"), catalog=catalog,
                               interval_s=options.get("interval"), tick_s=options.get("tick") or 60.0,
                               tz=options.get("tz") or "UTC"):
                self.stdout.write(json.dumps(item))
        except (ReplayError, ValueError, KeyError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise CommandError(str(msg)) from exc
