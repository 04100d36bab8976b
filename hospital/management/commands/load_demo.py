"""``manage.py load_demo [--force]``: load the generated demo hospital (fake data) into the database.

Imports the floor plans with the same code as ``import_floorplan``, then asset types, assets,
gateways, sensors, tags and the four demo users (published passwords: demo only), all in one
transaction. Refuses when the database already has equipment, unless ``--force``, which adds or
updates the demo records in place and leaves everything else alone.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hospital.demo.loader import DemoAlreadyLoaded, DemoLoader
from hospital.facility.floorplan import FloorPlanError

KINDS = ("asset types", "assets", "gateways", "sensors", "tags", "users", "maintenance usage days",
         "maintenance work orders")


class Command(BaseCommand):
    help = "Load the demo hospital (floor plans and fixtures/demo/, generated fake data) in one transaction."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even if the database has assets (updates in place)."
        )
        parser.add_argument(
            "--fixtures", type=Path, default=None, help="Demo fixture directory (default fixtures/demo)."
        )
        parser.add_argument(
            "--floorplans", type=Path, default=None, help="Floor-plan directory (default floorplans/)."
        )

    def handle(self, *args, force=False, fixtures=None, floorplans=None, **options):
        started = time.perf_counter()
        loader = DemoLoader(fixtures or settings.FIXTURE_DIR / "demo", floorplans or settings.FLOORPLAN_DIR)
        quiet = options.get("verbosity", 1) < 1

        def progress(steps):
            bar = tqdm(steps, desc="Loading the demo hospital", unit="step", disable=quiet, leave=False)
            for name, step in bar:
                bar.set_postfix_str(name)
                yield name, step

        try:
            report = loader.run(force=force, progress=progress)
        except DemoAlreadyLoaded as exc:
            raise CommandError(str(exc)) from exc
        except FloorPlanError as exc:
            raise CommandError(f"the demo floor plans are broken; nothing was loaded:\n{exc}") from exc
        for message in report.warnings:
            self.stderr.write(self.style.WARNING(message))
        if quiet:
            return
        self.stdout.write("Floor plans:")
        for line in report.floorplans.lines():
            self.stdout.write(f"  {line}")
        for kind in KINDS:
            self.stdout.write(
                f"{kind}: {report.created[kind]} created, {report.updated[kind]} updated, "
                f"{report.unchanged[kind]} unchanged"
            )
        counts = loader.manifest["counts"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo hospital loaded in {time.perf_counter() - started:.1f}s: {counts['floors']} floors, "
                f"{counts['rooms']} rooms, {counts['assets']} assets of {counts['asset_types']} types, "
                f"{counts['gateways']} gateways, {counts['sensors']} sensors, {counts['tags']} tags, "
                f"{counts['users']} demo users (password demo-<username>; demo only)."
            )
        )
