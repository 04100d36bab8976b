"""``manage.py locate_replay``: run recorded sightings through the positioning engine and score them.

For commissioning a site: the same engine as live ingest, on CSV files. The last line printed is a
JSON object with the error figures (``null`` when no truth is given).
"""

import json
import math

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from locator.engine.replay import ReplayInputError, load_inputs, replay, write_fixes


class Command(BaseCommand):
    help = "Replay sightings (CSV) through the positioning engine; optionally calibrate on a survey and score."

    def add_arguments(self, parser):
        parser.add_argument("--gateways", required=True, help="CSV gateway_id,x,y,z,floor")
        parser.add_argument("--sightings", required=True, help="CSV t,gateway_id,tag_id,rssi (t in Unix seconds)")
        parser.add_argument("--survey", help="CSV t,gateway_id,tag_id,rssi,x,y,z: readings at known positions")
        parser.add_argument("--truth", help="CSV t,tag_id,x,y,z: true positions over time (interpolated)")
        parser.add_argument("--out", help="Write fixes here: t,tag_id,x,y,z,floor,accuracy_m")
        parser.add_argument("--step", type=float, help="Solve every STEP seconds (default: at input times)")

    def handle(self, *args, **options):
        try:
            inputs = load_inputs(options["gateways"], options["sightings"], options["survey"], options["truth"])
        except ReplayInputError as exc:
            raise CommandError(str(exc)) from exc
        except FileNotFoundError as exc:
            raise CommandError(f"{exc.filename}: no such file") from exc
        with tqdm(total=100, desc="replaying", unit="%", disable=None, file=self.stderr._out) as bar:

            def progress(done, total):
                bar.n = round(100 * done / total)
                bar.refresh()

            fixes, metrics = replay(inputs["gateways"], inputs["sightings"], inputs["survey"], inputs["truth"],
                                    progress=progress, step_s=options["step"])
        if options["out"]:
            write_fixes(fixes, options["out"])
            self.stderr.write(f"wrote {len(fixes)} fixes to {options['out']}")
        for fit in metrics.get("calibration") or []:
            self.stderr.write(
                f"  {fit['gateway_id']}: {fit['status']:<7} n={fit['n']:<5} P0={fit['ref_power_dbm']:.1f} dBm "
                f"n={fit['exponent']:.2f} rmse={fit['rmse_db'] if fit['rmse_db'] is not None else float('nan'):.1f} dB"
            )
        summary = {key: metrics.get(key) for key in ("fixes", "median_m", "p90_m", "mean_m", "rmse_m")}
        summary = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
        self.stdout.write(json.dumps(summary))
