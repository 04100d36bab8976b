"""``manage.py import_usage FILE.csv [--dry-run]``: import device usage logs (run hours per day).

Header ``asset_number,date,hours`` (docs/maintenance.md, "Importing usage logs"). The whole file is
checked first; any error is reported with its line number and nothing is imported (exit status 1).
Otherwise every row is stored in one transaction as source "import", replacing what the locator derived
for those days.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hospital.maintenance.usage_sync import HEADER, UsageImportError, import_usage_csv

SHOWN_ERRORS = 50


class Command(BaseCommand):
    help = "Import device usage logs from CSV (asset_number,date,hours), all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file with the header " + ",".join(HEADER))
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report; store nothing.")

    def handle(self, *args, file: Path, dry_run=False, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        quiet = options.get("verbosity", 1) < 1
        with file.open("rb") as fh:
            total = max(sum(1 for _ in fh) - 1, 0)
        bar = tqdm(total=total, desc=f"Checking {file.name}", unit="row", disable=quiet, leave=False)
        try:
            report = import_usage_csv(file, progress=bar.update, dry_run=dry_run)
        except UsageImportError as exc:
            bar.close()
            errors = exc.report.errors
            self.stderr.write(f"{file}: {len(errors)} problem(s) in {exc.report.rows} data rows; nothing was imported.")
            for line, message in errors[:SHOWN_ERRORS]:
                self.stderr.write(f"  line {line}: {message}")
            if len(errors) > SHOWN_ERRORS:
                self.stderr.write(f"  … and {len(errors) - SHOWN_ERRORS} more")
            raise CommandError("import failed; fix the lines above and run it again") from None
        except UnicodeDecodeError as exc:
            bar.close()
            raise CommandError(f"{file}: not UTF-8 text ({exc}); nothing was imported") from None
        bar.close()
        span = f"{report.first} to {report.last}" if report.first else "no dates"
        if dry_run:
            self.stdout.write(self.style.SUCCESS(
                f"{file}: {report.rows} rows for {report.assets} assets ({span}) are valid; nothing stored (--dry-run)."))
            return
        self.stdout.write(self.style.SUCCESS(
            f"Imported {report.written} days of usage for {report.assets} assets ({span}); "
            f"{report.replaced} earlier figures for those days were replaced."))
