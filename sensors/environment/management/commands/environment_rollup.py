"""``manage.py environment_rollup``: aggregate readings per minute and per day (idempotent and
incremental), then delete raw readings past ``READINGS_RAW_RETENTION_DAYS``."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Roll readings up into per-minute and daily aggregates and apply the retention."

    def add_arguments(self, parser):
        parser.add_argument("--no-retention", action="store_true", help="Only aggregate; delete nothing.")
        parser.add_argument("--until-done", action="store_true", help="Repeat until caught up (a backfill).")

    def handle(self, *args, **options):
        from sensors.environment.rollup import apply_retention, rollup_minutes

        while True:
            result = rollup_minutes()
            self.stdout.write(f"rolled up {result['rows']} minute rows; aggregated up to {result['upto']}; "
                              f"{result['backlog']} late minute(s) recomputed")
            if not options["until_done"] or result["rows"] == 0:
                break
        if not options["no_retention"]:
            r = apply_retention()
            self.stdout.write(f"retention: deleted {r['readings']} raw readings (before {r['cutoff']}), "
                              f"{r['minute_aggregates']} minute and {r['daily_aggregates']} daily aggregates")
