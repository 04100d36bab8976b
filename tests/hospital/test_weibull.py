"""The censored Weibull failure model (hospital.maintenance.weibull).

All data here is SIMULATED (numpy draws with fixed seeds, hospital.maintenance.fleet_sim) or by hand.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hospital.maintenance.fleet_sim import simulate_repairs
from hospital.maintenance.weibull import (
    INTERVAL_COLUMNS,
    RISK_COLUMNS,
    WeibullFit,
    failure_intervals,
    failure_risk,
    fit_weibull,
    fit_weibull_by_type,
    pooled_shape,
)


def censored_sample(n, shape, scale, seed, censor_scale=None):
    """Weibull lifetimes censored by an independent uniform follow-up time."""
    rng = np.random.default_rng(seed)
    life = scale * rng.weibull(shape, n)
    follow = rng.uniform(0, censor_scale or 2 * scale, n)
    return np.minimum(life, follow), life <= follow


@pytest.mark.parametrize("shape,scale", [(0.7, 300.0), (1.0, 50.0), (1.8, 500.0), (3.5, 1000.0)])
def test_recovers_shape_and_scale_with_censoring(shape, scale):
    t, failed = censored_sample(3000, shape, scale, seed=int(shape * 100))
    assert 0.15 < 1 - failed.mean() < 0.8  # real censoring
    fit = fit_weibull(t, failed)
    assert fit.method == "mle" and not fit.flagged
    assert fit.shape == pytest.approx(shape, rel=0.08)
    assert fit.scale == pytest.approx(scale, rel=0.08)
    assert fit.n_failures == failed.sum() and fit.n_censored == (~failed).sum()


def test_agrees_with_scipy_censored_fit():
    t, failed = censored_sample(800, 1.6, 200.0, seed=3)
    ours = fit_weibull(t, failed)
    cd = stats.CensoredData(uncensored=t[failed], right=t[~failed])
    k, _, lam = stats.weibull_min.fit(cd, floc=0)
    assert ours.shape == pytest.approx(k, rel=1e-3)
    assert ours.scale == pytest.approx(lam, rel=1e-3)
    ll = np.sum(stats.weibull_min.logpdf(t[failed], k, scale=lam)) + np.sum(
        stats.weibull_min.logsf(t[~failed], k, scale=lam)
    )
    assert ours.loglik >= ll - 1e-6  # at least as likely as scipy's optimum


def test_ignoring_censoring_would_be_wrong():
    # The reason for the censored likelihood: dropping the censored intervals biases the scale down.
    t, failed = censored_sample(3000, 2.0, 100.0, seed=4, censor_scale=150.0)
    naive = fit_weibull(t[failed], np.ones(failed.sum(), bool))
    right = fit_weibull(t, failed)
    assert naive.scale < 0.9 * right.scale
    assert right.scale == pytest.approx(100.0, rel=0.05)


def test_zero_failures():
    fit = fit_weibull([100.0, 200.0, 50.0], [False, False, False])
    assert fit.method == "no_failures" and fit.flagged
    assert fit.n_failures == 0 and fit.n_censored == 3
    assert fit.shape == 1.0 and fit.scale == pytest.approx(350.0 / 0.5)
    assert 0 < fit.conditional_failure(10, 40) < 0.1
    with_prior = fit_weibull([100.0, 200.0], [False, False], prior_shape=2.0)
    assert with_prior.method == "no_failures" and with_prior.shape == 2.0
    assert with_prior.scale == pytest.approx(((100.0**2 + 200.0**2) / 0.5) ** 0.5)


def test_few_failures_fall_back():
    t, failed = [10.0, 30.0, 50.0, 80.0], [True, True, False, False]
    exp = fit_weibull(t, failed)
    assert exp.method == "exponential" and exp.flagged and exp.shape == 1.0
    assert exp.scale == pytest.approx(sum(t) / 2)  # exponential MLE: exposure / failures
    prior = fit_weibull(t, failed, prior_shape=2.5)
    assert prior.method == "prior_shape" and prior.shape == 2.5


def test_empty_and_dirty_input():
    assert fit_weibull([], []).method == "no_data"
    fit = fit_weibull(
        [0.0, np.nan, -3.0, 5.0, 7.0, 9.0, 12.0, 15.0, 3.0],
        [True, True, True, True, True, True, True, False, True],
    )
    assert fit.n_failures + fit.n_censored == 7  # NaN and negative dropped, the zero kept
    assert np.isfinite(fit.shape) and np.isfinite(fit.scale)
    with pytest.raises(ValueError):
        fit_weibull([1.0, 2.0], [True])


def test_risk_is_monotone_in_horizon_and_matches_survival():
    fit = WeibullFit(shape=2.0, scale=100.0, n_failures=10, n_censored=5, method="mle")
    horizons = np.arange(0, 200, 5.0)
    r = fit.conditional_failure(50.0, 50.0 + horizons)
    assert r[0] == 0.0
    assert np.all(np.diff(r) > 0) and r[-1] < 1
    assert r[4] == pytest.approx(1 - fit.survival(70.0) / fit.survival(50.0))
    # Increasing hazard (shape > 1): the same horizon is riskier for an older asset.
    assert fit.conditional_failure(80.0, 100.0) > fit.conditional_failure(10.0, 30.0)
    # Shape 1 is memoryless.
    e = WeibullFit(1.0, 100.0, 10, 0, "mle")
    assert e.conditional_failure(0.0, 20.0) == pytest.approx(e.conditional_failure(500.0, 520.0))
    assert e.mean() == pytest.approx(100.0)


def test_failure_risk_frame():
    fits = {
        "pump": WeibullFit(2.0, 100.0, 10, 5, "mle"),
        "bed": WeibullFit(1.0, 1000.0, 0, 9, "no_failures", True),
    }
    assets = pd.DataFrame(
        {
            "asset_id": [1, 2, 3, 4, 5],
            "asset_type": ["pump", "pump", "bed", "scanner", "pump"],
            "age_now": [50.0, 50.0, 10.0, 10.0, 50.0],
            "age_due": [60.0, 90.0, 40.0, 40.0, 40.0],
        }
    )
    r = failure_risk(assets, fits)
    assert list(r.columns) == RISK_COLUMNS
    assert r.loc[0, "risk"] < r.loc[1, "risk"]
    assert r.loc[0, "risk"] == pytest.approx(fits["pump"].conditional_failure(50.0, 60.0))
    assert r.loc[2, "risk"] == pytest.approx(1 - np.exp(-0.03)) and r.loc[2, "flagged"]
    assert np.isnan(r.loc[3, "risk"]) and r.loc[3, "method"] == "no_fit" and r.loc[3, "flagged"]
    assert r.loc[4, "risk"] == 0.0  # due age before the current age
    # A fit frame works the same as the mapping.
    frame = pd.DataFrame({k: v.as_dict() for k, v in fits.items()}).T
    frame["shape"] = frame["shape"].astype(float)
    frame["scale"] = frame["scale"].astype(float)
    r2 = failure_risk(assets, frame)
    np.testing.assert_allclose(r2["risk"], r["risk"])


def test_failure_intervals_by_hand():
    today = pd.Timestamp("2025-06-02")
    assets = pd.DataFrame(
        {
            "asset_id": [1, 2, 3],
            "asset_type": ["pump", "pump", "bed"],
            "commissioned": pd.to_datetime(["2025-01-01", "2025-05-01", "2025-07-01"]),
        }
    )
    failures = pd.DataFrame(
        {
            "asset_id": [1, 1, 2, 2, 9],
            "date": pd.to_datetime(["2025-02-01", "2025-03-01", "2025-04-01", "2025-06-05", "2025-02-01"]),
        }
    )
    iv = failure_intervals(failures, assets, today)
    assert list(iv.columns) == INTERVAL_COLUMNS
    # Asset 1: two failures then censored; asset 2: failure before commissioning and after today ignored;
    # asset 3 commissioned in the future; asset 9 unknown.
    assert iv["asset_id"].tolist() == [1, 1, 1, 2]
    assert iv["duration"].tolist() == [31.0, 28.0, 93.0, 32.0]
    assert iv["failed"].tolist() == [True, True, False, False]
    assert iv["asset_type"].tolist() == ["pump"] * 4


def test_failure_intervals_in_usage_hours():
    today = pd.Timestamp("2025-06-02")
    dates = pd.date_range("2025-03-01", "2025-06-01")
    usage = pd.DataFrame({"asset_id": 1, "date": dates, "hours": 2.0})
    assets = pd.DataFrame(
        {
            "asset_id": [1, 2],
            "asset_type": ["pump", "pump"],
            "commissioned": pd.to_datetime(["2025-03-01", "2024-01-01"]),
        }
    )
    failures = pd.DataFrame({"asset_id": [1], "date": pd.to_datetime(["2025-03-11"])})
    iv = failure_intervals(failures, assets, today, usage=usage)
    # Asset 2 has no usage history: dropped. Asset 1: 10 days x 2 h, then 83 days x 2 h censored.
    assert iv["asset_id"].tolist() == [1, 1]
    assert iv["duration"].tolist() == [20.0, 166.0]


def test_fit_by_type_recovers_simulated_shapes_within_15_percent():
    assets, failures, truth = simulate_repairs(n_assets=3000, seed=12)
    iv = failure_intervals(failures, assets, pd.Timestamp("2025-06-02"))
    assert (~iv["failed"]).sum() == len(assets)  # one censored interval per asset
    fits = fit_weibull_by_type(iv)
    assert set(fits.index) == set(truth)
    for typ, (k, lam) in truth.items():
        assert fits.loc[typ, "method"] == "mle"
        assert abs(fits.loc[typ, "shape"] - k) / k < 0.15, typ
        assert abs(fits.loc[typ, "scale"] - lam) / lam < 0.15, typ


def test_sparse_type_takes_the_pooled_shape():
    rng = np.random.default_rng(1)
    rows = []
    for typ, scale, n in (("a", 100.0, 400), ("b", 300.0, 400), ("rare", 200.0, 3)):
        t = scale * rng.weibull(2.0, n)
        follow = rng.uniform(0, 2 * scale, n)
        rows.append(
            pd.DataFrame({"asset_type": typ, "duration": np.minimum(t, follow), "failed": t <= follow})
        )
    iv = pd.concat(rows, ignore_index=True)
    fits = fit_weibull_by_type(iv)
    k_pool = pooled_shape(iv["duration"], iv["failed"], iv["asset_type"])
    assert k_pool == pytest.approx(2.0, rel=0.1)
    assert fits.loc["rare", "method"] == "pooled_shape" and fits.loc["rare", "flagged"]
    assert fits.loc["rare", "shape"] == pytest.approx(k_pool)
    assert fits.loc["a", "method"] == "mle" and not fits.loc["a", "flagged"]
    assert fits.dtypes["n_failures"] == np.int64 and fits.dtypes["flagged"] == np.dtype(bool)
