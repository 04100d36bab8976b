"""Predicted due dates of maintenance plans: calendar vs usage ("whichever comes first"), the band.

All data here is SIMULATED (hospital.maintenance.fleet_sim) or constructed by hand.
"""

import numpy as np
import pandas as pd
import pytest

from hospital.maintenance.fleet_sim import simulate_fleet, simulate_plans
from hospital.maintenance.forecast import DUE_COLUMNS, forecast_usage, predict_due

TODAY = pd.Timestamp("2025-06-02")  # a Monday


def constant_use(hours_by_asset, days=120):
    """Long-format history: each asset uses exactly ``hours`` every day."""
    dates = pd.date_range(TODAY - pd.Timedelta(days=days), TODAY - pd.Timedelta(days=1))
    return pd.DataFrame(
        [(a, d, h) for a, h in hours_by_asset.items() for d in dates], columns=["asset_id", "date", "hours"]
    )


@pytest.fixture(scope="module")
def light_heavy():
    usage = constant_use({"light": 0.5, "heavy": 20.0, "idle": 0.0})
    return usage, forecast_usage(usage, TODAY)


def plan(asset, **kw):
    row = {
        "asset_id": asset,
        "interval_days": np.nan,
        "interval_hours": np.nan,
        "last_service_date": TODAY - pd.Timedelta(days=10),
        "hours_since_service": 0.0,
    }
    row.update(kw)
    return row


def test_calendar_when_use_is_low_usage_when_heavy(light_heavy):
    _, fc = light_heavy
    plans = pd.DataFrame(
        [
            plan("light", interval_days=180, interval_hours=500, plan_id=1),
            plan("heavy", interval_days=180, interval_hours=500, plan_id=2),
        ]
    )
    due = predict_due(plans, fc, TODAY)
    assert list(due.columns) == DUE_COLUMNS
    light, heavy = due.iloc[0], due.iloc[1]
    cal = TODAY + pd.Timedelta(days=170)
    assert light["driver"] == "calendar" and light["due"] == cal and light["calendar_due"] == cal
    assert light["usage_due"] == TODAY + pd.Timedelta(days=999)  # 500 h at 0.5 h/day: day index 999
    assert heavy["driver"] == "usage"
    # 500 h at 20 h/day: 25 full days, reached at the end of day index 24.
    assert heavy["due"] == TODAY + pd.Timedelta(days=24)
    assert heavy["days_to_due"] == 24 and not heavy["overdue"]
    assert heavy["hours_to_due"] == pytest.approx(480.0)
    assert due["plan_id"].tolist() == [1, 2]
    # Constant use: no noise, the band collapses onto the due date.
    assert heavy["due_p10"] == heavy["due"] == heavy["due_p90"]


def test_only_calendar_only_usage_and_neither(light_heavy):
    _, fc = light_heavy
    plans = pd.DataFrame(
        [
            plan("heavy", interval_days=30),
            plan("heavy", interval_hours=100),
            plan("heavy"),
            plan("unknown-asset", interval_hours=100),
            plan("unknown-asset", interval_days=30),
            plan("heavy", interval_days=30, last_service_date=pd.NaT),
        ]
    )
    due = predict_due(plans, fc, TODAY)
    assert due.loc[0, "driver"] == "calendar" and pd.isna(due.loc[0, "usage_due"])
    assert due.loc[0, "due"] == TODAY + pd.Timedelta(days=20)
    assert due.loc[1, "driver"] == "usage" and pd.isna(due.loc[1, "calendar_due"])
    assert due.loc[1, "due"] == TODAY + pd.Timedelta(days=4)
    assert due.loc[2, "driver"] == "none" and pd.isna(due.loc[2, "due"]) and pd.isna(due.loc[2, "due_p10"])
    assert not due.loc[2, "overdue"]
    assert due.loc[3, "driver"] == "none" and not due.loc[3, "has_forecast"]
    assert due.loc[4, "driver"] == "calendar" and not due.loc[4, "has_forecast"]
    assert due.loc[5, "driver"] == "none"


def test_count_from_planned_or_completion(light_heavy):
    _, fc = light_heavy
    done, planned = TODAY - pd.Timedelta(days=10), TODAY - pd.Timedelta(days=20)
    plans = pd.DataFrame(
        [
            plan(
                "light",
                interval_days=30,
                last_service_date=done,
                last_planned_date=planned,
                count_from="completion",
            ),
            plan(
                "light",
                interval_days=30,
                last_service_date=done,
                last_planned_date=planned,
                count_from="planned",
            ),
            plan(
                "light",
                interval_days=30,
                last_service_date=done,
                last_planned_date=pd.NaT,
                count_from="planned",
            ),
            plan(
                "light", interval_days=30, last_service_date=done, last_planned_date=planned, count_from=None
            ),
        ]
    )
    due = predict_due(plans, fc, TODAY)
    assert due["calendar_due"].tolist() == [
        done + pd.Timedelta(days=30),
        planned + pd.Timedelta(days=30),
        done + pd.Timedelta(days=30),
        done + pd.Timedelta(days=30),
    ]


def test_overdue(light_heavy):
    _, fc = light_heavy
    plans = pd.DataFrame(
        [
            plan("light", interval_days=5),  # calendar date 5 days ago
            plan("light", interval_hours=100, hours_since_service=150.0),  # hours used up
            plan("unknown-asset", interval_hours=100, hours_since_service=150.0),  # even without a forecast
        ]
    )
    due = predict_due(plans, fc, TODAY)
    assert due["overdue"].all()
    assert due.loc[0, "due"] == TODAY - pd.Timedelta(days=5) and due.loc[0, "days_to_due"] == -5
    assert due.loc[1, "due"] == TODAY and due.loc[1, "remaining_hours"] == -50
    assert due.loc[2, "due"] == TODAY and due.loc[2, "driver"] == "usage"


def test_idle_asset_never_reaches_usage_interval(light_heavy):
    _, fc = light_heavy
    due = predict_due(pd.DataFrame([plan("idle", interval_hours=10, interval_days=365)]), fc, TODAY)
    assert pd.isna(due.loc[0, "usage_due"]) and due.loc[0, "driver"] == "calendar"


def test_beyond_horizon_is_extrapolated(light_heavy):
    _, fc = light_heavy
    due = predict_due(pd.DataFrame([plan("light", interval_hours=500)]), fc, TODAY, horizon_days=100)
    assert due.loc[0, "beyond_horizon"]
    assert due.loc[0, "usage_due"] == TODAY + pd.Timedelta(days=999)


def test_hours_since_service_from_usage_history(light_heavy):
    usage, fc = light_heavy
    p = plan("heavy", interval_hours=500, last_service_date=TODAY - pd.Timedelta(days=5))
    p["hours_since_service"] = np.nan
    due = predict_due(pd.DataFrame([p]), fc, TODAY, usage=usage)
    assert due.loc[0, "hours_since_service"] == pytest.approx(100.0)
    assert due.loc[0, "due"] == TODAY + pd.Timedelta(days=19)
    # Without the history the usage side is unknown, not guessed.
    due2 = predict_due(pd.DataFrame([p]), fc, TODAY)
    assert due2.loc[0, "driver"] == "none"


def test_forecast_from_an_earlier_origin(light_heavy):
    _, fc = light_heavy
    later = TODAY + pd.Timedelta(days=3)
    due = predict_due(pd.DataFrame([plan("heavy", interval_hours=100)]), fc, later)
    assert due.loc[0, "due"] == later + pd.Timedelta(days=4)
    with pytest.raises(ValueError):
        predict_due(pd.DataFrame([plan("heavy", interval_hours=100)]), fc, TODAY - pd.Timedelta(days=1))


@pytest.fixture(scope="module")
def noisy():
    fl = simulate_fleet(2000, history_days=730, seed=21)
    return fl, forecast_usage(fl.usage_long(), fl.today)


def test_band_is_ordered_and_contains_the_truth_most_of_the_time(noisy):
    fl, fc = noisy
    plans, truth = simulate_plans(fl, 59, seed=21)
    due = predict_due(plans, fc, fl.today)
    d = ((due["due"] - fl.today) / pd.Timedelta(days=1)).to_numpy()
    lo = ((due["due_p10"] - fl.today) / pd.Timedelta(days=1)).to_numpy()
    hi = ((due["due_p90"] - fl.today) / pd.Timedelta(days=1)).to_numpy()
    assert (lo <= d).all() and (d <= hi).all()
    inside = (lo <= truth) & (truth <= hi)
    assert 0.7 <= inside.mean() <= 0.92  # nominal 80 %
    # And the point forecast: median absolute error within 3 days at 60 days (the target).
    assert np.median(np.abs(d - truth)) <= 3.0
    # A wider band contains more.
    wide = predict_due(plans, fc, fl.today, band=(0.02, 0.98))
    lo2 = ((wide["due_p10"] - fl.today) / pd.Timedelta(days=1)).to_numpy()
    hi2 = ((wide["due_p90"] - fl.today) / pd.Timedelta(days=1)).to_numpy()
    assert ((lo2 <= truth) & (truth <= hi2)).mean() > inside.mean()


def test_calendar_caps_the_band(noisy):
    fl, fc = noisy
    plans, _ = simulate_plans(fl, 59, seed=22)
    plans["interval_days"] = 40.0
    plans["last_service_date"] = fl.today - pd.Timedelta(days=10)
    due = predict_due(plans, fc, fl.today)
    cal = fl.today + pd.Timedelta(days=30)
    assert (due["due"] <= cal).all() and (due["due_p90"] <= cal).all()
    assert (due["driver"] == "calendar").mean() > 0.9
