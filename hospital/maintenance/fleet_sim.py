"""SIMULATED fleets for tests and benchmarks. Nothing here is real hospital data.

A simulated fleet has KNOWN usage rates (per asset: base hours/day, weekday pattern, linear trend that
may start at a change point, AR(1) multiplicative noise, random idle days) and failures drawn from a
KNOWN Weibull per asset type, so the forecaster and the failure model can be scored against the truth:
the realised "future" usage after ``today`` is generated too but never shown to the forecaster.

Pure numpy/scipy/pandas; never imports Django. Generation is vectorised across assets (it loops over
chunks of assets and over a few blocks of failure draws, never over single assets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .forecast import UsageMatrix

SIMULATED = True  # every object from this module is simulated data

# Weekday patterns, Monday..Sunday, normalised to mean 1 below.
WEEKDAY_PATTERNS = {
    "weekday": [1.25, 1.25, 1.25, 1.2, 1.15, 0.5, 0.4],
    "continuous": [1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95],
    "clinic": [1.4, 1.4, 1.4, 1.4, 1.4, 0.0, 0.0],
}


@dataclass(frozen=True)
class SimType:
    """A simulated asset type: usage and Weibull time between failures (days)."""

    name: str
    share: float  # fraction of the fleet
    median_hours: float  # median base use, h/day
    patterns: tuple[str, ...]
    weibull_shape: float
    weibull_scale_days: float


DEFAULT_TYPES = (
    SimType("infusion_pump", 0.35, 6.0, ("weekday", "continuous"), 1.5, 900.0),
    SimType("patient_monitor", 0.25, 12.0, ("continuous",), 0.8, 2000.0),
    SimType("ultrasound", 0.15, 4.0, ("clinic", "weekday"), 1.1, 1500.0),
    SimType("ventilator", 0.10, 9.0, ("continuous",), 2.2, 1200.0),
    SimType("defibrillator", 0.15, 0.8, ("weekday", "continuous"), 3.0, 700.0),
)


@dataclass
class SimulatedFleet:
    """A SIMULATED fleet with its true parameters, its history and its (hidden) future.

    ``history[i, j]``: hours of asset i on day ``today - history_days + j`` (NaN before commissioning);
    ``future[i, h]``: hours on day ``today + h``. ``rate`` parameters: the expected use before noise,
    idle days and clipping is ``base * max(0.05, 1 + growth * max(t, change_point) / 365) * profile``
    with t in days from today.
    """

    asset_ids: np.ndarray
    asset_type: np.ndarray
    pattern: np.ndarray
    today: pd.Timestamp
    base: np.ndarray
    growth: np.ndarray  # relative change per year
    change_point: np.ndarray  # days from today (<= 0) where the trend starts; -inf = whole history
    profile: np.ndarray  # (n, 7) Monday..Sunday, mean 1
    history: np.ndarray
    future: np.ndarray
    noise_cv: float
    rho: float
    p_idle: float
    simulated: bool = field(default=True, init=False)

    @property
    def n_assets(self) -> int:
        return len(self.asset_ids)

    @property
    def slope(self) -> np.ndarray:
        """True trend at today, h/day per day (before the weekday factor)."""
        return self.base * self.growth / 365.0

    @property
    def start(self) -> pd.Timestamp:
        return self.today - pd.Timedelta(days=self.history.shape[1])

    def rate(self, t: np.ndarray) -> np.ndarray:
        """Expected use before the weekday factor at days ``t`` from today: (n, len(t))."""
        t = np.asarray(t, dtype=float)[None, :]
        return self.base[:, None] * np.maximum(
            0.05, 1 + self.growth[:, None] * np.maximum(t, self.change_point[:, None]) / 365.0
        )

    def usage_matrix(self) -> UsageMatrix:
        return UsageMatrix(pd.Index(self.asset_ids, name="asset_id"), self.history, self.start)

    def usage_long(self, *, drop_zero: bool = False) -> pd.DataFrame:
        """The history as a long frame (asset_id, date, hours): one row per asset and observed day."""
        n, d = self.history.shape
        hours = self.history.ravel()
        keep = ~np.isnan(hours)
        if drop_zero:
            keep &= hours > 0
        idx = np.flatnonzero(keep)
        dates = (np.datetime64(self.start.date(), "D") + np.arange(d)).astype("datetime64[s]")
        rows, cols = np.divmod(idx, d)
        del idx
        return pd.DataFrame(
            {"asset_id": self.asset_ids[rows], "date": dates[cols], "hours": hours[keep]}, copy=False
        )

    def assets_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"asset_id": self.asset_ids, "asset_type": self.asset_type, "pattern": self.pattern}
        )

    def true_usage_due(self, rows: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        """Day index (0 = today) on which the TRUE future use of ``rows`` reaches ``remaining`` hours.

        NaN if not reached within the simulated future."""
        cum = np.cumsum(self.future[rows], axis=1)
        hit = cum >= np.asarray(remaining, dtype=float)[:, None]
        out = hit.argmax(axis=1).astype(float)
        out[~hit.any(axis=1)] = np.nan
        out[np.asarray(remaining) <= 0] = 0.0
        return out


def _pick_types(n: int, types, rng) -> np.ndarray:
    share = np.array([t.share for t in types], dtype=float)
    return rng.choice(len(types), size=n, p=share / share.sum())


def simulate_fleet(
    n_assets: int = 1000,
    *,
    history_days: int = 730,
    future_days: int = 120,
    today="2025-06-02",
    seed: int = 0,
    types=DEFAULT_TYPES,
    growth_sd: float = 0.25,
    change_point_frac: float = 0.3,
    noise_cv: float = 0.25,
    rho: float = 0.3,
    p_idle: float = 0.02,
    young_frac: float = 0.05,
    chunk: int = 2000,
) -> SimulatedFleet:
    """Generate a SIMULATED fleet (see the module docstring).

    growth_sd : sd of the relative trend per year (0.25: a typical asset changes its use by +-25 %/year).
    change_point_frac : share of assets whose trend starts 30-200 days before today (flat before).
    noise_cv : sd of the multiplicative daily noise; rho : its lag-1 autocorrelation.
    p_idle : probability that a day has no use at all (out of service, not needed).
    young_frac : share of assets commissioned within the history (unknown, NaN, before).
    """
    rng = np.random.default_rng(seed)
    today = pd.Timestamp(today).normalize()
    n = int(n_assets)
    ti = _pick_types(n, types, rng)
    names = np.array([t.name for t in types], dtype=object)
    med = np.array([t.median_hours for t in types])
    base = np.clip(med[ti] * np.exp(rng.normal(0.0, 0.5, n)), 0.2, 20.0)
    pat_names = np.empty(n, dtype=object)
    for k, t in enumerate(types):  # a handful of types
        m = ti == k
        pat_names[m] = rng.choice(np.array(t.patterns, dtype=object), size=int(m.sum()))
    pats = {k: np.array(v) / np.mean(v) for k, v in WEEKDAY_PATTERNS.items()}
    profile = np.empty((n, 7))
    for k, v in pats.items():
        profile[pat_names == k] = v
    growth = rng.normal(0.0, growth_sd, n)
    change_point = np.full(n, -np.inf)
    cp = rng.random(n) < change_point_frac
    change_point[cp] = -rng.integers(30, 200, int(cp.sum()))
    young = rng.random(n) < young_frac
    first_day = np.zeros(n, dtype=np.int64)  # column index of commissioning in the history
    first_day[young] = rng.integers(history_days - 400, history_days - 30, int(young.sum()))

    fleet = SimulatedFleet(
        asset_ids=np.arange(1, n + 1, dtype=np.int64),
        asset_type=names[ti],
        pattern=pat_names,
        today=today,
        base=base,
        growth=growth,
        change_point=change_point,
        profile=profile,
        history=np.empty((n, history_days)),
        future=np.empty((n, future_days)),
        noise_cv=noise_cv,
        rho=rho,
        p_idle=p_idle,
    )
    total = history_days + future_days
    burn = 60
    t = np.arange(-history_days, future_days)
    wd = (today.weekday() + t) % 7
    for lo in range(0, n, chunk):
        sl = slice(lo, min(n, lo + chunk))
        k = sl.stop - sl.start
        white = rng.standard_normal((k, total + burn))
        e = lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], white, axis=1)[:, burn:]
        del white
        mean = np.maximum(0.05, 1 + growth[sl, None] * np.maximum(t[None, :], change_point[sl, None]) / 365.0)
        mean *= base[sl, None] * profile[sl][:, wd]
        y = mean * (1.0 + noise_cv * e)
        y[rng.random((k, total)) < p_idle] = 0.0
        np.clip(y, 0.0, 24.0, out=y)
        fleet.history[sl] = y[:, :history_days]
        fleet.future[sl] = y[:, history_days:]
    fleet.history[np.arange(history_days)[None, :] < first_day[:, None]] = np.nan
    return fleet


def simulate_repairs(
    fleet: SimulatedFleet | None = None,
    *,
    n_assets: int | None = None,
    types=DEFAULT_TYPES,
    seed: int = 0,
    today=None,
    min_age_days: int = 365,
    max_age_days: int = 3650,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple[float, float]]]:
    """SIMULATED repair history: failures as a renewal process with the type's TRUE Weibull (days).

    Uses the fleet's assets and types (or ``n_assets`` new ones). Each asset is commissioned 1-10 years
    before today (young assets of the fleet: at their first day of history); every interval since then
    is a Weibull draw; the interval running at ``today`` is censored.

    Returns (assets, failures, truth):
        assets : DataFrame ``asset_id``, ``asset_type``, ``commissioned`` (datetime64)
        failures : DataFrame ``asset_id``, ``date`` (datetime64), one row per failure (corrective repair)
        truth : {asset_type: (shape, scale_days)}
    """
    rng = np.random.default_rng(seed + 7919)
    by_name = {t.name: t for t in types}
    if fleet is not None:
        ids, typ = fleet.asset_ids, fleet.asset_type
        today = fleet.today
        age = rng.integers(min_age_days, max_age_days, len(ids)).astype(float)
        first = np.isnan(fleet.history).argmin(axis=1)
        young = np.isnan(fleet.history[:, 0])
        age[young] = fleet.history.shape[1] - first[young]
    else:
        n = int(n_assets or 1000)
        ti = _pick_types(n, types, rng)
        ids = np.arange(1, n + 1, dtype=np.int64)
        typ = np.array([t.name for t in types], dtype=object)[ti]
        today = pd.Timestamp(today or "2025-06-02").normalize()
        age = rng.integers(min_age_days, max_age_days, n).astype(float)
    shape = np.array([by_name[x].weibull_shape for x in typ])
    scale = np.array([by_name[x].weibull_scale_days for x in typ])
    n = len(ids)
    # Draw blocks of intervals until every asset's renewal process has passed today.
    times = np.zeros((n, 0))
    total = np.zeros(n)
    while (total < age).any():
        block = scale[:, None] * (-np.log(rng.random((n, 8)))) ** (1.0 / shape[:, None])
        block = total[:, None] + np.cumsum(block, axis=1)
        times = np.concatenate([times, block], axis=1)
        total = times[:, -1]
    commissioned_day = np.datetime64(today.date(), "D") - age.astype(np.int64)
    fail = times < age[:, None]
    rows, _ = np.nonzero(fail)
    days = np.floor(times[fail]).astype(np.int64)
    fdates = commissioned_day[rows] + days
    assets = pd.DataFrame(
        {"asset_id": ids, "asset_type": typ, "commissioned": commissioned_day.astype("datetime64[s]")}
    )
    failures = pd.DataFrame({"asset_id": ids[rows], "date": fdates.astype("datetime64[s]")})
    failures = failures[failures["date"] < np.datetime64(today.date(), "s")].reset_index(drop=True)
    truth = {t.name: (t.weibull_shape, t.weibull_scale_days) for t in types}
    return assets, failures, truth


def simulate_plans(
    fleet: SimulatedFleet,
    due_day,
    *,
    seed: int = 0,
    rows: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """SIMULATED usage-interval plans whose TRUE due date falls on ``due_day`` (days from today).

    due_day : int or array (one per row). The interval's remaining hours are set from the realised
    future use so that the cumulative use reaches them during that day (up to idle days).

    Returns (plans, true_due_day):
        plans : DataFrame ``plan_id``, ``asset_id``, ``interval_days`` (NaN), ``interval_hours``,
            ``last_service_date``, ``hours_since_service``
        true_due_day : float array, the day index (0 = today) on which the TRUE use reaches the interval
    """
    rng = np.random.default_rng(seed + 104729)
    rows = np.arange(fleet.n_assets) if rows is None else np.asarray(rows)
    k = rows.size
    d = np.broadcast_to(np.asarray(due_day, dtype=np.int64), (k,)).copy()
    cum = np.cumsum(fleet.future[rows], axis=1)
    before = np.where(d > 0, cum[np.arange(k), np.maximum(d - 1, 0)], 0.0)
    that_day = fleet.future[rows, d]
    remaining = before + rng.uniform(0.05, 1.0, k) * that_day
    remaining = np.where(remaining > 0, remaining, before + 1e-3)
    since = rng.uniform(0.1, 1.0, k) * remaining
    interval = since + remaining
    with np.errstate(invalid="ignore", divide="ignore"):
        days_back = np.nan_to_num(since / np.maximum(fleet.base[rows], 0.1), nan=30.0)
    last = np.datetime64(fleet.today.date(), "D") - np.ceil(days_back).astype(np.int64)
    plans = pd.DataFrame(
        {
            "plan_id": np.arange(1, k + 1),
            "asset_id": fleet.asset_ids[rows],
            "interval_days": np.nan,
            "interval_hours": interval,
            "last_service_date": last.astype("datetime64[s]"),
            "hours_since_service": since,
        }
    )
    return plans, fleet.true_usage_due(rows, remaining)
