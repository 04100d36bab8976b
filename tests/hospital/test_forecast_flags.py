"""Unusual-use flags (hospital.maintenance.forecast.usage_flags) and the risk before the next service.

All data here is SIMULATED (hospital.maintenance.fleet_sim) or constructed by hand.
"""

import numpy as np
import pandas as pd
import pytest

from hospital.maintenance.fleet_sim import simulate_fleet, simulate_plans, simulate_repairs
from hospital.maintenance.forecast import (
    FLAG_COLUMNS,
    forecast_usage,
    predict_due,
    risk_before_due,
    usage_flags,
)
from hospital.maintenance.weibull import failure_intervals, fit_weibull_by_type

TODAY = pd.Timestamp("2025-06-02")


def history(series_by_asset):
    """Long format from {asset: array of daily hours ending yesterday}."""
    rows = []
    for a, ys in series_by_asset.items():
        dates = pd.date_range(end=TODAY - pd.Timedelta(days=1), periods=len(ys))
        rows.append(pd.DataFrame({"asset_id": a, "date": dates, "hours": ys}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def constructed():
    rng = np.random.default_rng(5)
    n = 200
    normal = np.clip(6 + rng.normal(0, 1.0, n), 0, 24)
    spike = normal.copy()
    spike[-7:] = 16.0
    idle = normal.copy()
    idle[-20:] = 0.0
    weekend = np.tile([8, 8, 8, 8, 8, 0, 0], n // 7 + 1)[:n].astype(float)  # never idle 14 days
    small_jump = np.full(n, 0.2)
    small_jump[-7:] = 1.0  # 5x, but only +0.8 h/day: not "heavy"
    new = np.full(10, 3.0)  # commissioned 10 days ago
    u = history(
        {
            "normal": normal,
            "spike": spike,
            "idle": idle,
            "weekend": weekend,
            "small_jump": small_jump,
            "new": new,
        }
    )
    repairs = pd.DataFrame(
        {
            "asset_id": [
                "normal",
                "normal",
                "normal",
                "spike",
                "spike",
                "spike",
                "repair-only",
                "repair-only",
                "repair-only",
            ],
            "date": pd.to_datetime(
                [
                    "2025-05-01",
                    "2025-05-15",
                    "2025-05-30",
                    "2024-01-01",
                    "2025-05-01",
                    "2025-05-02",
                    "2025-04-01",
                    "2025-04-02",
                    "2025-04-03",
                ]
            ),
        }
    )
    return usage_flags(u, TODAY, repairs=repairs).set_index("asset_id")


def test_columns(constructed):
    assert list(constructed.reset_index().columns) == FLAG_COLUMNS


def test_heavy_use(constructed):
    f = constructed
    assert f.loc["spike", "heavy_use"] and f.loc["spike", "heavy_use_z"] > 5
    assert f.loc["spike", "recent_mean"] == pytest.approx(16.0)
    for a in ("normal", "weekend", "small_jump", "new", "idle"):
        assert not f.loc[a, "heavy_use"], a
    assert np.isnan(f.loc["new", "baseline_mean"])  # too short to judge


def test_long_idle(constructed):
    f = constructed
    assert f.loc["idle", "long_idle"] and f.loc["idle", "idle_days"] == 20
    assert f.loc["idle", "last_used"] == TODAY - pd.Timedelta(days=21)
    for a in ("normal", "weekend", "spike", "new"):
        assert not f.loc[a, "long_idle"], a
    assert f.loc["weekend", "idle_days"] <= 2


def test_repeated_repairs(constructed):
    f = constructed
    assert f.loc["normal", "repairs_recent"] == 3 and f.loc["normal", "repeated_repairs"]
    assert f.loc["spike", "repairs_recent"] == 2 and not f.loc["spike", "repeated_repairs"]  # one is old
    assert f.loc["repair-only", "repeated_repairs"] and not f.loc["repair-only", "heavy_use"]
    assert f.loc["spike", "reasons"] == "heavy_use"
    assert f.loc["normal", "reasons"] == "repeated_repairs"
    assert f.loc["weekend", "reasons"] == "" and not f.loc["weekend", "any_flag"]


def test_few_false_alarms_on_a_normal_fleet():
    fl = simulate_fleet(2000, history_days=400, seed=8, p_idle=0.0)
    f = usage_flags(fl.usage_matrix(), fl.today)
    assert f["heavy_use"].mean() < 0.01
    assert f["long_idle"].sum() == 0


def test_never_used_asset_is_idle_for_its_observed_days():
    f = usage_flags(history({"x": np.zeros(30)}), TODAY).set_index("asset_id")
    assert f.loc["x", "idle_days"] == 30 and f.loc["x", "long_idle"] and pd.isna(f.loc["x", "last_used"])


def test_risk_before_due_grows_with_the_distance_to_the_due_date():
    fl = simulate_fleet(500, history_days=400, seed=9)
    fc = forecast_usage(fl.usage_matrix(), fl.today)
    assets, failures, _ = simulate_repairs(fl, seed=9)
    iv = failure_intervals(failures, assets, fl.today)
    fits = fit_weibull_by_type(iv)
    ages = iv[~iv["failed"]].rename(columns={"duration": "age_now"})
    near, _ = simulate_plans(fl, 10, seed=9)
    far, _ = simulate_plans(fl, 80, seed=9)
    r_near = risk_before_due(predict_due(near, fc, fl.today), ages, fits)
    r_far = risk_before_due(predict_due(far, fc, fl.today), ages, fits)
    assert r_near["risk"].between(0, 1).all()
    assert (r_far["risk"].to_numpy() >= r_near["risk"].to_numpy() - 1e-12).all()
    assert r_far["risk"].mean() > r_near["risk"].mean()
    assert (r_near["driver"] == "usage").all()
    # Hours as the unit: the age grows by the expected hours to the due date.
    r_h = risk_before_due(predict_due(near, fc, fl.today), ages, fits, unit="hours")
    due = predict_due(near, fc, fl.today).set_index("asset_id")
    np.testing.assert_allclose(r_h["age_due"] - r_h["age_now"], due.loc[r_h["asset_id"], "hours_to_due"])
    with pytest.raises(ValueError):
        risk_before_due(due.reset_index(), ages, fits, unit="weeks")
