"""The daily-use forecaster (hospital.maintenance.forecast): inputs, recovery of known patterns, speed.

All data here is SIMULATED (hospital.maintenance.fleet_sim) or constructed by hand.
"""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hospital.maintenance.fleet_sim import simulate_fleet, simulate_plans
from hospital.maintenance.forecast import (
    FORECAST_COLUMNS,
    PROFILE_COLUMNS,
    UsageMatrix,
    forecast_daily,
    forecast_usage,
    hours_since,
    predict_due,
    usage_matrix,
)

TODAY = pd.Timestamp("2025-06-02")  # a Monday


def long_frame(rows):
    return pd.DataFrame(rows, columns=["asset_id", "date", "hours"])


@pytest.fixture(scope="module")
def clean_fleet():
    # Nearly noiseless, no idle days, linear trends over the whole history.
    return simulate_fleet(
        300,
        history_days=400,
        seed=11,
        noise_cv=0.02,
        p_idle=0.0,
        change_point_frac=0.0,
        growth_sd=0.4,
        young_frac=0.0,
    )


def test_module_never_imports_django():
    import subprocess
    import sys

    code = (
        "import sys, hospital.maintenance.forecast, hospital.maintenance.weibull, "
        "hospital.maintenance.fleet_sim; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_recovers_weekday_pattern(clean_fleet):
    fc = forecast_usage(clean_fleet.usage_matrix(), clean_fleet.today)
    assert list(fc.columns) == FORECAST_COLUMNS
    prof = fc[PROFILE_COLUMNS].to_numpy()
    np.testing.assert_allclose(prof.mean(axis=1), 1.0, atol=1e-9)
    # The "clinic" pattern has no weekend use at all.
    clinic = clean_fleet.pattern == "clinic"
    assert clinic.any()
    assert np.abs(prof[clinic][:, 5:]).max() < 1e-9
    err = np.abs(prof - clean_fleet.profile)
    assert np.median(err) < 0.02
    assert err.max() < 0.08


def test_recovers_level_and_trend(clean_fleet):
    fl = clean_fleet
    fc = forecast_usage(fl.usage_matrix(), fl.today)
    true_level = fl.rate(np.array([0.0]))[:, 0]
    ok = true_level > 0.5  # away from the rate floor of the simulator
    rel = np.abs(fc["level"].to_numpy() - true_level)[ok] / true_level[ok]
    assert np.median(rel) < 0.01
    assert rel.max() < 0.06
    # The trend: clean data leave almost nothing to shrink.
    big = ok & (np.abs(fl.slope) > 0.003)
    assert big.sum() > 20
    slope = fc["slope"].to_numpy()
    assert np.median(np.abs(slope[big] - fl.slope[big]) / np.abs(fl.slope[big])) < 0.1
    assert np.all(np.sign(slope[big]) == np.sign(fl.slope[big]))
    assert fc["trend_shrink"].median() > 0.9
    assert (fc["method"] == "trend").all()


def test_noisy_slopes_are_shrunk_towards_zero():
    fl = simulate_fleet(500, history_days=400, seed=3)
    fc = forecast_usage(fl.usage_matrix(), fl.today)
    w = fc["trend_shrink"].to_numpy()
    assert ((w >= 0) & (w <= 1)).all()
    np.testing.assert_allclose(fc["slope"], w * fc["slope_raw"])
    # Shrinking reduces the error of the slope on noisy data.
    raw_err = np.abs(fc["slope_raw"] - fl.slope).median()
    shrunk_err = np.abs(fc["slope"] - fl.slope).median()
    assert shrunk_err < raw_err


def test_fixed_trend_prior_and_no_shrinkage():
    fl = simulate_fleet(100, history_days=300, seed=4)
    none = forecast_usage(fl.usage_matrix(), fl.today, shrink_trend=False)
    assert (none["trend_shrink"] == 1.0).all()
    tight = forecast_usage(fl.usage_matrix(), fl.today, trend_prior_sd=1e-9)
    assert tight["slope"].abs().max() < 1e-6


def test_long_wide_and_matrix_inputs_agree(clean_fleet):
    fl = clean_fleet
    um = fl.usage_matrix()
    long = fl.usage_long()
    dates = pd.date_range(fl.start, periods=um.n_days, freq="D")
    wide = pd.DataFrame(um.hours, index=pd.Index(fl.asset_ids, name="asset_id"), columns=dates)
    a = forecast_usage(um, fl.today)
    b = forecast_usage(long, fl.today)
    c = forecast_usage(wide, fl.today)
    num = ["level", "slope", *PROFILE_COLUMNS, "sigma", "expected_hours"]
    pd.testing.assert_frame_equal(a[num], b[num])
    pd.testing.assert_frame_equal(a[num], c[num])


def test_long_format_rules():
    rows = [
        (7, "2025-05-20", 3.0),
        (7, "2025-05-20", 2.0),  # same day twice: summed
        (7, "2025-05-25", 30.0),  # clipped to 24
        (7, "2025-06-02", 5.0),  # today: ignored
        (7, "2025-05-26", np.nan),  # NaN hours: ignored
        (8, "2025-05-30", 1.0),
    ]
    um = usage_matrix(long_frame(rows), TODAY)
    assert um.end == TODAY
    assert um.start == pd.Timestamp("2025-05-20")
    h7, h8 = um.hours
    assert h7[0] == 5.0
    assert h7[5] == 24.0
    assert np.all(h7[[1, 2, 3, 4, 6]] == 0.0)  # no row after the first record = no use
    assert np.isnan(h8[:10]).all() and h8[10] == 1.0 and h8[11:].tolist() == [0.0, 0.0]


def test_long_format_accepts_python_dates_strings_and_tz_aware():
    base = [(1, f"2025-05-{d:02d}", 2.0) for d in range(1, 32)]
    a = usage_matrix(long_frame(base), TODAY)
    df = long_frame(base)
    df["date"] = pd.to_datetime(df["date"]).dt.date
    b = usage_matrix(df, TODAY)
    df["date"] = pd.to_datetime(df["date"]).dt.tz_localize("Europe/Paris")
    c = usage_matrix(df, TODAY)
    np.testing.assert_array_equal(a.hours, b.hours)
    np.testing.assert_array_equal(a.hours, c.hours)


def test_history_trimming_and_matrix_passthrough():
    um = UsageMatrix(pd.Index([1, 2]), np.ones((2, 100)), pd.Timestamp("2025-01-01"))
    short = usage_matrix(um, pd.Timestamp("2025-03-01"), history_days=30)
    assert short.n_days == 30 and short.end == pd.Timestamp("2025-03-01")
    longer = usage_matrix(um, um.end + pd.Timedelta(days=5))
    assert longer.n_days == 105 and np.isnan(longer.hours[:, -5:]).all()


def test_short_and_empty_histories():
    rows = [(1, d, 4.0) for d in pd.date_range("2025-05-20", "2025-06-01")]  # 13 days: one full week
    rows += [(2, d, 0.0) for d in pd.date_range("2025-01-01", "2025-06-01")]  # never used
    fc = forecast_usage(long_frame(rows), TODAY, horizon_days=10).set_index("asset_id")
    assert fc.loc[1, "method"] == "level"
    assert fc.loc[1, "slope"] == 0.0
    assert fc.loc[1, "level"] == pytest.approx(4.0)
    assert fc.loc[1, "expected_hours"] == pytest.approx(40.0)
    assert fc.loc[2, "level"] == 0.0 and fc.loc[2, "expected_hours"] == 0.0
    assert (fc.loc[2, PROFILE_COLUMNS] == 1.0).all()
    # An asset known only from a wide frame full of NaN.
    wide = pd.DataFrame(
        [[np.nan] * 30], index=pd.Index([9], name="asset_id"), columns=pd.date_range("2025-05-01", periods=30)
    )
    fc2 = forecast_usage(wide, TODAY)
    assert fc2.loc[0, "method"] == "no_data" and np.isnan(fc2.loc[0, "expected_hours"])


def test_forecast_daily_is_clipped_and_follows_the_profile(clean_fleet):
    fc = forecast_usage(clean_fleet.usage_matrix(), clean_fleet.today)
    daily = forecast_daily(fc, 14)
    assert list(daily.columns) == ["asset_id", "date", "hours", "hours_lo", "hours_hi"]
    assert len(daily) == 14 * len(fc)
    assert daily["hours"].between(0, 24).all()
    assert (daily["hours_lo"] <= daily["hours"] + 1e-12).all() and (
        daily["hours"] <= daily["hours_hi"] + 1e-12
    ).all()
    assert daily["date"].min() == clean_fleet.today
    clinic_id = clean_fleet.asset_ids[clean_fleet.pattern == "clinic"][0]
    d = daily[daily["asset_id"] == clinic_id]
    assert (d.loc[d["date"].dt.day_of_week >= 5, "hours"] == 0).all()
    assert (d.loc[d["date"].dt.day_of_week < 5, "hours"] > 0).all()
    # Starting later than the origin shifts the window, not the model.
    later = forecast_daily(fc, 7, today=clean_fleet.today + pd.Timedelta(days=7))
    np.testing.assert_allclose(
        later.groupby("asset_id")["hours"].sum().to_numpy(),
        daily[daily["date"] >= clean_fleet.today + pd.Timedelta(days=7)].groupby("asset_id")["hours"].sum(),
    )
    with pytest.raises(ValueError):
        forecast_daily(fc, 7, today=clean_fleet.today - pd.Timedelta(days=1))


def test_hours_since():
    rows = [(1, d, 2.0) for d in pd.date_range("2025-05-01", "2025-06-01")]
    u = long_frame(rows)
    got = hours_since(
        u,
        [1, 1, 1, 2, 1],
        pd.to_datetime(["2025-05-30", "2025-06-05", "2024-01-01", "2025-05-30", None]),
        TODAY,
    )
    assert got[0] == 6.0 and got[1] == 0.0
    assert np.isnan(got[2]) and np.isnan(got[3]) and np.isnan(got[4])


def test_expected_hours_sd_grows_with_horizon(clean_fleet):
    fl = simulate_fleet(200, history_days=300, seed=5)
    a = forecast_usage(fl.usage_matrix(), fl.today, horizon_days=30)
    b = forecast_usage(fl.usage_matrix(), fl.today, horizon_days=90)
    assert (b["expected_hours_sd"] > a["expected_hours_sd"]).all()
    assert (b["expected_hours"] >= a["expected_hours"]).all()


def test_vectorised_2000_assets_well_under_a_second():
    fl = simulate_fleet(2000, history_days=730, seed=2)
    usage = fl.usage_long()
    plans, _ = simulate_plans(fl, 59, seed=2)
    best = np.inf
    for _ in range(2):
        t = time.perf_counter()
        fc = forecast_usage(usage, fl.today)
        predict_due(plans, fc, fl.today)
        best = min(best, time.perf_counter() - t)
    assert best < 0.8, best


def test_empty_inputs():
    empty = long_frame([])
    fc = forecast_usage(empty, TODAY)
    assert list(fc.columns) == FORECAST_COLUMNS and len(fc) == 0
    plans = pd.DataFrame({"asset_id": [1], "interval_days": [30.0], "last_service_date": [TODAY]})
    due = predict_due(plans, fc, TODAY)
    assert due.loc[0, "driver"] == "calendar" and not due.loc[0, "has_forecast"]
    assert len(predict_due(plans.iloc[:0], fc, TODAY)) == 0


def test_a_week_out_of_service_barely_moves_level_and_trend(clean_fleet):
    fl = clean_fleet
    um = fl.usage_matrix()
    broken = um.hours.copy()
    broken[:, -30:-23] = 0.0  # every asset idle for one week three weeks ago
    a = forecast_usage(um, fl.today)
    b = forecast_usage(UsageMatrix(um.asset_ids, broken, um.start), fl.today)
    ok = a["level"].to_numpy() > 0.5
    rel = np.abs(b["level"] - a["level"]).to_numpy()[ok] / a["level"].to_numpy()[ok]
    assert np.median(rel) < 0.03
    # The Theil-Sen slope (median of pairwise slopes) hardly moves.
    assert np.median(np.abs(b["slope_raw"] - a["slope_raw"])) < 0.002
