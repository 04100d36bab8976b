"""manage.py locate_replay and calibrate, on the shared real dataset and on broken input."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from locator.models import CalibrationChange, SurveyPoint
from sensors.models import Gateway

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "datasets" / "kolakowski-ble-flat-2021"
sys.path.insert(0, str(ROOT / "bench"))


@pytest.fixture(scope="module")
def kolakowski_csvs(tmp_path_factory):
    if not DATASET.exists():
        pytest.skip("../shared/datasets/kolakowski-ble-flat-2021 is not beside the checkout")
    from locator_accuracy import convert

    return convert(DATASET, tmp_path_factory.mktemp("kolakowski"))


def test_locate_replay_prints_figures_within_the_target(kolakowski_csvs, capsys, tmp_path):
    out = tmp_path / "fixes.csv"
    call_command("locate_replay", "--gateways", str(kolakowski_csvs["gateways"]),
                 "--sightings", str(kolakowski_csvs["sightings"]), "--survey", str(kolakowski_csvs["survey"]),
                 "--truth", str(kolakowski_csvs["truth"]), "--out", str(out))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(summary) == {"fixes", "median_m", "p90_m", "mean_m", "rmse_m"}
    assert summary["fixes"] > 600
    assert summary["median_m"] <= 1.0 and summary["p90_m"] <= 2.0  # the targets
    fixes = pd.read_csv(out)
    assert list(fixes.columns) == ["t", "tag_id", "x", "y", "z", "floor", "accuracy_m"]


def test_locate_replay_without_truth_prints_nulls(kolakowski_csvs, capsys):
    call_command("locate_replay", "--gateways", str(kolakowski_csvs["gateways"]),
                 "--sightings", str(kolakowski_csvs["sightings"]))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["fixes"] > 0 and summary["median_m"] is None and summary["rmse_m"] is None


def test_locate_replay_names_file_line_and_column_of_bad_input(tmp_path):
    gateways = tmp_path / "G.csv"
    gateways.write_text("gateway_id,x,y,z,floor\na,0,0,2.5,0\nb,5,0,2.5,0\n")
    sightings = tmp_path / "S.csv"
    sightings.write_text("t,gateway_id,tag_id,rssi\n1.0,a,t1,-60\n1.5,b,t1,loud\n")
    with pytest.raises(CommandError, match=r"S.csv, line 3, column 'rssi'"):
        call_command("locate_replay", "--gateways", str(gateways), "--sightings", str(sightings))


@pytest.mark.django_db
def test_calibrate_reports_fit_quality_and_applies_with_an_audit_trail(gateway_factory, tmp_path, capsys):
    import numpy as np

    from locator.engine import distance_to_rssi

    spots = {"gw-1": (0.0, 0.0), "gw-2": (10.0, 0.0), "gw-3": (0.0, 4.0), "gw-4": (10.0, 4.0)}
    for gw, (x, y) in spots.items():
        gateway_factory(gw, x=x, y=y)
    rng = np.random.default_rng(1)
    rows = []
    for k in range(300):  # a survey walk with a known radio: P0 -62 dBm, exponent 2.2
        x, y = rng.uniform(0.5, 9.5), rng.uniform(0.5, 3.5)
        for gw, (gx, gy) in spots.items():
            d = np.sqrt((gx - x) ** 2 + (gy - y) ** 2 + 1.5**2)
            rows.append((k * 0.5, gw, "walker", float(distance_to_rssi(d, -62.0, 2.2) + rng.normal(0, 2)), x, y, 1.2))
    survey = tmp_path / "walk.csv"
    pd.DataFrame(rows, columns=["t", "gateway_id", "tag_id", "rssi", "x", "y", "z"]).to_csv(survey, index=False)

    call_command("calibrate", str(survey))
    report = capsys.readouterr().out
    assert "gw-1" in report and "rmse" in report
    assert not CalibrationChange.objects.exists()  # report only

    call_command("calibrate", str(survey), "--apply")
    gateway = Gateway.objects.get(gateway_id="gw-1")
    assert gateway.ref_power_dbm == pytest.approx(-62.0, abs=1.5)
    assert gateway.path_loss_exponent == pytest.approx(2.2, abs=0.25)
    assert CalibrationChange.objects.filter(source="survey").count() == 4
    assert SurveyPoint.objects.count() == len(rows)
