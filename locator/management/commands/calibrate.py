"""``manage.py calibrate``: fit each gateway's path-loss model from a survey walk and report the fit.

The survey CSV holds readings taken at known positions: ``t,gateway_id,tag_id,rssi,x,y,z`` (metres in
the gateway's floor frame; ``z`` is the tag height above the floor). Without ``--apply`` it only
reports; with it, parameters are saved (each change recorded in the admin) and the readings are kept
as the floor's radio map, which live positioning then uses.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from locator.engine import EngineConfig, GatewayModel, Survey, fit_survey
from locator.engine.replay import ReplayInputError, read_csv_checked
from locator.models import CalibrationChange, SurveyPoint
from sensors.models import Gateway


class Command(BaseCommand):
    help = "Fit per-gateway path-loss parameters from a survey walk; report fit quality; --apply saves them."

    def add_arguments(self, parser):
        parser.add_argument("survey", help="CSV t,gateway_id,tag_id,rssi,x,y,z")
        parser.add_argument("--apply", action="store_true", help="Save the fitted parameters and the radio map.")

    def handle(self, *args, **options):
        gateways = list(Gateway.objects.filter(enabled=True).select_related("floor").order_by("gateway_id"))
        if not gateways:
            raise CommandError("no gateways registered: import the site and its gateways first")
        ids = [g.gateway_id for g in gateways]
        try:
            survey_df = read_csv_checked(options["survey"], "survey", gateway_ids=ids)
        except ReplayInputError as exc:
            raise CommandError(str(exc)) from exc
        except FileNotFoundError as exc:
            raise CommandError(f"{exc.filename}: no such file") from exc
        cfg = EngineConfig()
        model = GatewayModel(
            ids=ids, xyz=np.array([[g.x, g.y, g.z] for g in gateways]), floor=[g.floor_id for g in gateways],
            ref_power=[g.ref_power_dbm for g in gateways], exponent=[g.path_loss_exponent for g in gateways],
        )
        gw = model.index_of(survey_df["gateway_id"].tolist())
        z = survey_df["z"].to_numpy(float) if "z" in survey_df else np.full(len(survey_df), cfg.tag_height_m)
        xyz = np.c_[survey_df["x"].to_numpy(float), survey_df["y"].to_numpy(float), z]
        floor = self.reading_floors(survey_df, gateways, model, gw)
        survey = Survey.from_arrays(model, gw, survey_df["rssi"].to_numpy(float), xyz, floor=floor,
                                    t=survey_df["t"].to_numpy(float), tag=survey_df["tag_id"].to_numpy())
        _, report = fit_survey(model, survey, cfg)
        self.print_report(report)
        if options["apply"]:
            self.apply(gateways, report, survey_df, floor, Path(options["survey"]).name)

    @staticmethod
    def reading_floors(survey_df: pd.DataFrame, gateways, model, gw) -> np.ndarray:
        """Floor (pk) of each survey reading: the ``floor`` column (a level) when given, else the floor
        of the gateway that heard that sample (same t and tag) most strongly."""
        if "floor" in survey_df:
            by_level = {str(g.floor.level): g.floor_id for g in gateways}
            levels = [str(v).strip() for v in survey_df["floor"].tolist()]
            unknown = sorted({str(v) for v in levels if v not in by_level})
            if unknown:
                raise CommandError(f"survey: unknown floor level(s) {', '.join(unknown)}")
            return np.array([by_level[v] for v in levels], dtype=object)
        frame = pd.DataFrame({"t": survey_df["t"].to_numpy(), "tag": survey_df["tag_id"].to_numpy(),
                              "rssi": survey_df["rssi"].to_numpy(float), "floor": model.floor[gw]})
        strongest = frame.loc[frame.groupby(["t", "tag"])["rssi"].idxmax(), ["t", "tag", "floor"]]
        return frame[["t", "tag"]].merge(strongest, on=["t", "tag"], how="left")["floor"].to_numpy(dtype=object)

    def print_report(self, report):
        self.stdout.write(f"{'gateway':<16} {'status':<8} {'n':>6} {'P0 dBm':>8} {'exponent':>9} {'rmse dB':>8} {'R²':>6}")
        for fit in report:
            rmse = "—" if np.isnan(fit.rmse_db) else f"{fit.rmse_db:.1f}"
            r2 = "—" if np.isnan(fit.r2) else f"{fit.r2:.2f}"
            self.stdout.write(f"{fit.gateway_id!s:<16} {fit.status:<8} {fit.n:>6} {fit.ref_power_dbm:>8.1f} "
                              f"{fit.exponent:>9.2f} {rmse:>8} {r2:>6}")

    @transaction.atomic
    def apply(self, gateways, report, survey_df: pd.DataFrame, floor, name: str):
        by_id = {g.gateway_id: g for g in gateways}
        changed = 0
        for fit in report:
            gateway = by_id[str(fit.gateway_id)]
            if fit.status == "default":
                continue
            CalibrationChange.objects.create(
                gateway=gateway, source=CalibrationChange.Source.SURVEY, old_ref_power_dbm=gateway.ref_power_dbm,
                new_ref_power_dbm=round(fit.ref_power_dbm, 2), old_exponent=gateway.path_loss_exponent,
                new_exponent=round(fit.exponent, 3), samples=fit.n, rmse_db=fit.rmse_db, r2=fit.r2,
                note=f"survey {name} ({fit.status})",
            )
            gateway.ref_power_dbm, gateway.path_loss_exponent = round(fit.ref_power_dbm, 2), round(fit.exponent, 3)
            gateway.save(update_fields=["ref_power_dbm", "path_loss_exponent", "updated_at"])
            changed += 1
        SurveyPoint.objects.filter(survey=name).delete()
        z = survey_df["z"].to_numpy(float) if "z" in survey_df else np.full(len(survey_df), 1.2)
        SurveyPoint.objects.bulk_create(
            [SurveyPoint(gateway=by_id[g], floor_id=f, x=x, y=y, z=zz, rssi=r, t=t, survey=name)
             for g, f, x, y, zz, r, t in zip(survey_df["gateway_id"], floor, survey_df["x"], survey_df["y"], z,
                                             survey_df["rssi"], survey_df["t"], strict=True)],
            batch_size=5000,
        )
        self.stdout.write(f"applied: {changed} gateway(s) updated, {len(survey_df)} survey readings kept as radio map")
