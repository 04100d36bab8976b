"""``manage.py import_floorplan PATH [PATH ...]``: load floor-plan GeoJSON files (see floorplans/README.md).

Every file is checked first and every problem in every file is reported; only when all are clean is
anything written, and then all files go in one transaction. Re-running with the same files changes
nothing ("unchanged"); a changed file updates what changed.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hospital.facility.floorplan import FloorPlanError, expand_paths, load_floorplans
from hospital.facility.services import import_floorplans

PROGRESS_FROM = 4  # files; below this a progress bar is noise


class Command(BaseCommand):
    help = "Import floor plans (GeoJSON files, or directories of them): site, building, floors, rooms, zones."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="GeoJSON files or directories of *.geojson.")
        parser.add_argument(
            "--prune", action="store_true", help="Delete rooms and zones no longer in the files."
        )

    def handle(self, *args, paths, prune=False, **options):
        files = expand_paths(paths)
        if not files:
            raise CommandError(f"no *.geojson files in {', '.join(map(str, paths))}")
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise CommandError(f"no such file: {', '.join(missing)}")
        quiet = options.get("verbosity", 1) < 1 or len(files) < PROGRESS_FROM

        def bar(desc):
            return lambda items: tqdm(items, desc=desc, unit="file", disable=quiet, leave=False)

        report = run_import(
            files,
            prune=prune,
            progress_check=bar("checking"),
            progress_import=bar("importing"),
            warn=lambda msg: self.stderr.write(self.style.WARNING(msg)),
        )
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Imported {len(files)} floor plan file(s)."))


def run_import(files, *, prune=False, progress_check=None, progress_import=None, warn=None):
    """Check then import; raise CommandError naming every problem. Shared with ``load_demo``."""
    try:
        plans, warnings = load_floorplans(files, progress=progress_check)
    except FloorPlanError as exc:
        n = len(exc.problems)
        raise CommandError(
            f"{n} problem{'s' if n != 1 else ''} in the floor plans; nothing was imported:\n{exc}"
        ) from exc
    for message in warnings:
        if warn:
            warn(message)
    return import_floorplans(plans, prune=prune, progress=progress_import)
