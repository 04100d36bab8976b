"""``manage.py derive_usage [--date D] [--days N]``: periods of use and hours per day from the locator.

Applies the usage rules per room type (admin: Maintenance > Usage rules; docs/maintenance.md) to the
location history of the given local days (default: yesterday) and stores the result as source "locator".
Running it again for the same days replaces its earlier result; imported device logs are kept.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from hospital.maintenance.usage_sync import derive_from_locator


class Command(BaseCommand):
    help = "Derive usage (periods and hours per day) from the location history."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=dt.date.fromisoformat, default=None,
                            help="Last day to derive (YYYY-MM-DD; default yesterday).")
        parser.add_argument("--days", type=int, default=1, help="Number of days ending at --date (default 1).")

    def handle(self, *args, date=None, days=1, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        last = date or timezone.localdate() - dt.timedelta(days=1)
        start = last - dt.timedelta(days=days - 1)
        r = derive_from_locator(start, last + dt.timedelta(days=1))
        if options.get("verbosity", 1) >= 1:
            self.stdout.write(self.style.SUCCESS(
                f"{start} to {last}: {r.history_rows} location rows of {r.assets} assets -> {r.periods} periods of use, "
                f"{r.days_written} asset-days stored ({r.hours:.1f} h), {r.days_kept} kept from imported logs."))
