"""``manage.py maintenance_forecast [--date D] [--lookahead N] [--no-orders]``: the nightly forecast job.

Forecasts daily use for the whole fleet, predicts every plan's due date (whichever comes first of calendar
and usage, with its band), fits the Weibull failure model per asset type from repair work orders, flags
unusual use, stores it all, moves the due dates of pending work orders to the prediction, and creates
the work orders that fall due within the look-ahead (setting MAINTENANCE_LOOKAHEAD_DAYS, default 14).
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from hospital.maintenance.forecasting import lookahead_days, run_forecast
from hospital.maintenance.models import Forecast


class Command(BaseCommand):
    help = "Forecast usage and due dates for the fleet, store them, and create work orders that fall due soon."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=dt.date.fromisoformat, default=None,
                            help="Forecast as of this day (YYYY-MM-DD; default today).")
        parser.add_argument("--lookahead", type=int, default=None,
                            help=f"Create work orders due within this many days (default {lookahead_days()}).")
        parser.add_argument("--no-orders", action="store_true", help="Store forecasts only; touch no work order.")

    def handle(self, *args, date=None, lookahead=None, no_orders=False, **options):
        if lookahead is not None and lookahead < 0:
            raise CommandError("--lookahead must be 0 or more")
        run = run_forecast(date, lookahead=lookahead, create_orders=not no_orders, triggered_by="maintenance_forecast")
        if options.get("verbosity", 1) < 1:
            return
        overdue = Forecast.objects.filter(run=run, overdue=True).count()
        flagged = Forecast.objects.filter(run=run).exclude(flags="").values("asset").distinct().count()
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in run.timings.items())
        self.stdout.write(
            f"Forecast as of {run.as_of}: {run.n_assets} assets, {run.n_plans} plans, {run.n_usage_rows} usage days; "
            f"{overdue} plans overdue, {flagged} assets flagged for unusual use.")
        self.stdout.write(
            f"Work orders: {run.orders_created} created (due within {run.lookahead_days} days), "
            f"{run.orders_updated} due dates moved to the forecast.")
        self.stdout.write(self.style.SUCCESS(f"Done in {run.seconds:.2f}s ({steps})."))
