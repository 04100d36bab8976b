"""Calibration: path-loss parameters from a survey, radio maps, and bounded online refinement.

``fit_path_loss``: per gateway, a robust (soft-L1) regression of RSSI on ``-10 log10(d)`` with
``d`` the 3-D distance, bounded (exponent 1.5-4.5, reference power -80..-35 dBm) and shrunk toward
the defaults by a weak prior, so a gateway heard a handful of times keeps near-default values.
Each fit reports its sample count, RMSE (dB), R^2 and parameters.

``build_radio_maps``: the same survey as a fingerprint map per floor (see ``fingerprint``).

``OnlineCalibrator``: evidence from reference tags at known positions and from gateways hearing
each other, accumulated as forgetting sufficient statistics; it proposes per-gateway targets and
applies at most a small step per call, clamped to bounds, so a bad hour never wrecks the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares

from .config import EngineConfig
from .fingerprint import RadioMap
from .gateways import GatewayModel


@dataclass
class Survey:
    """Readings at known positions: gateway row, RSSI, tag position (height above its floor), floor."""

    gw: np.ndarray
    rssi: np.ndarray
    xyz: np.ndarray
    floor: np.ndarray  # floor label of the position (object)

    def __len__(self) -> int:
        return len(self.gw)

    @classmethod
    def from_arrays(cls, gateways: GatewayModel, gw, rssi, xyz, floor=None, t=None, tag=None,
                    group_s: float = 1.0) -> Survey:
        """Build a survey; without ``floor``, each position takes the floor of the strongest gateway
        heard by the same tag within the same ``group_s`` slot (or the gateway's own floor)."""
        gw = np.asarray(gw, dtype=np.int64)
        rssi = np.asarray(rssi, float)
        xyz = np.asarray(xyz, float).reshape(-1, 3)
        if floor is None:
            floor = gateways.floor[gw].copy()
            if t is not None and len(gw):
                tag = np.zeros(len(gw), dtype=np.int64) if tag is None else np.unique(
                    np.asarray(tag).astype(str), return_inverse=True)[1]
                slot = np.floor(np.asarray(t, float) / group_s).astype(np.int64)
                key = np.unique(np.c_[tag, slot], axis=0, return_inverse=True)[1].reshape(-1)
                order = np.lexsort((-rssi, key))
                first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
                best = np.empty(key.max() + 1, dtype=np.int64)
                best[key[first]] = gw[first]
                floor = gateways.floor[best[key]]
        return cls(gw=gw, rssi=rssi, xyz=xyz, floor=np.asarray(floor, dtype=object))

    def same_floor(self, gateways: GatewayModel) -> np.ndarray:
        return gateways.floor[self.gw] == self.floor

    def distances(self, gateways: GatewayModel) -> np.ndarray:
        return np.linalg.norm(gateways.xyz[self.gw] - self.xyz, axis=1)


@dataclass
class GatewayFit:
    gateway_id: object
    n: int
    ref_power_dbm: float
    exponent: float
    rmse_db: float
    r2: float
    status: str  # "fitted", "shrunk" (thin data, pulled to defaults), "default" (too few samples)


def fit_path_loss(gateways: GatewayModel, gw, distance_m, rssi, cfg: EngineConfig | None = None, *,
                  sigma_db: float = 5.0, prior_ref_sd: float = 8.0, prior_exp_sd: float = 0.6,
                  min_samples: int = 5) -> tuple[GatewayModel, list[GatewayFit]]:
    """Per-gateway robust fit of ``rssi = P0 - 10 n log10(d)``; returns the new model and a report.

    The prior (``prior_ref_sd`` dB, ``prior_exp_sd``) centres on the config defaults; it weighs like
    a few samples, so with hundreds of samples the data decide and with ten the defaults mostly do.
    """
    cfg = cfg or EngineConfig()
    gw = np.asarray(gw, dtype=np.int64)
    x_all = -10.0 * np.log10(np.maximum(np.asarray(distance_m, float), cfg.min_range_m))
    y_all = np.asarray(rssi, float)
    (p_lo, p_hi), (n_lo, n_hi) = cfg.ref_power_bounds, cfg.exponent_bounds
    p_def = float(np.clip(cfg.default_ref_power_dbm, p_lo, p_hi))
    n_def = float(np.clip(cfg.default_exponent, n_lo, n_hi))
    ref, expo = gateways.ref_power.copy(), gateways.exponent.copy()
    report: list[GatewayFit] = []
    for g in range(len(gateways)):
        sel = gw == g
        x, y = x_all[sel], y_all[sel]
        n = int(sel.sum())
        if n < min_samples:
            report.append(GatewayFit(gateways.ids[g], n, float(ref[g]), float(expo[g]), float("nan"),
                                     float("nan"), "default"))
            continue

        def resid(p, x=x, y=y):
            data = (y - (p[0] + p[1] * x)) / sigma_db
            prior = np.array([(p[0] - p_def) / prior_ref_sd, (p[1] - n_def) / prior_exp_sd])
            return np.r_[data, prior]

        sol = least_squares(resid, x0=[p_def, n_def], bounds=([p_lo, n_lo], [p_hi, n_hi]), loss="soft_l1",
                            f_scale=1.5)
        p0, ex = float(sol.x[0]), float(sol.x[1])
        res = y - (p0 + ex * x)
        rmse = float(np.sqrt(np.mean(res**2)))
        sst = float(np.sum((y - y.mean()) ** 2))
        r2 = float(1.0 - np.sum(res**2) / sst) if sst > 0 else float("nan")
        shrunk = n < 30  # with fewer samples the prior (defaults) carries real weight
        ref[g], expo[g] = p0, ex
        report.append(GatewayFit(gateways.ids[g], n, p0, ex, rmse, r2, "shrunk" if shrunk else "fitted"))
    return gateways.with_params(ref_power=ref, exponent=expo), report


def fit_survey(gateways: GatewayModel, survey: Survey, cfg: EngineConfig | None = None,
               **kw) -> tuple[GatewayModel, list[GatewayFit]]:
    """``fit_path_loss`` on a survey's same-floor readings."""
    same = survey.same_floor(gateways)
    return fit_path_loss(gateways, survey.gw[same], survey.distances(gateways)[same], survey.rssi[same], cfg, **kw)


def build_radio_maps(gateways: GatewayModel, survey: Survey, cfg: EngineConfig | None = None,
                     **kw) -> dict:
    """One ``RadioMap`` per floor that the survey visited (same-floor readings only)."""
    cfg = cfg or EngineConfig()
    maps = {}
    same = survey.same_floor(gateways)
    for f in set(survey.floor.tolist()):
        sel = same & (survey.floor == f)
        if sel.sum() < 10:
            continue
        opts = dict(resolution=cfg.fp_resolution_m, bandwidth=cfg.fp_bandwidth_m, model_weight=cfg.fp_model_weight)
        opts.update(kw)
        maps[f] = RadioMap.build(gateways, f, survey.xyz[sel, :2], survey.gw[sel], survey.rssi[sel],
                                 tag_height_m=float(np.median(survey.xyz[sel, 2])), **opts)
    return maps


def fits_table(report: list[GatewayFit]) -> list[dict]:
    return [asdict(f) for f in report]


@dataclass
class CalibrationProposal:
    gateway_id: object
    n_eff: float
    current_ref_power: float
    current_exponent: float
    target_ref_power: float  # what the evidence alone (with the prior) suggests
    target_exponent: float
    proposed_ref_power: float  # after the step limit and the bounds
    proposed_exponent: float

    @property
    def change(self) -> tuple[float, float]:
        return (self.proposed_ref_power - self.current_ref_power, self.proposed_exponent - self.current_exponent)


class OnlineCalibrator:
    """Bounded, forgetting refinement of per-gateway path-loss parameters.

    Feed it (gateway, distance, rssi) evidence: ``add`` directly, ``add_reference`` for a reference
    tag at a known position, ``add_gateway_pair`` for gateways hearing each other. ``propose``
    returns targets and bounded proposals; ``apply`` writes them into a model and returns both.
    """

    def __init__(self, gateways: GatewayModel, cfg: EngineConfig | None = None, *, max_step_db: float = 1.0,
                 max_step_exponent: float = 0.05, half_life_s: float = 6 * 3600.0, prior_samples: float = 50.0,
                 min_samples: float = 20.0, sigma_db: float = 5.0, huber_k: float = 2.0):
        self.cfg = cfg or EngineConfig()
        self.gateways = gateways.copy()
        self.max_step_db = max_step_db
        self.max_step_exponent = max_step_exponent
        self.half_life_s = half_life_s
        self.prior_samples = prior_samples
        self.min_samples = min_samples
        self.sigma_db = sigma_db
        self.huber_k = huber_k
        G = len(gateways)
        self.S = np.zeros((G, 5))  # sum w, w x, w y, w x^2, w x y
        self.t_last = None

    def _decay(self, t) -> None:
        if t is None:
            return
        if self.t_last is not None and t > self.t_last:
            self.S *= 0.5 ** ((t - self.t_last) / self.half_life_s)
        self.t_last = t if self.t_last is None else max(self.t_last, t)

    def add(self, gw, distance_m, rssi, t: float | None = None) -> None:
        self._decay(t)
        gw = np.asarray(gw, dtype=np.int64).reshape(-1)
        x = -10.0 * np.log10(np.maximum(np.asarray(distance_m, float).reshape(-1), self.cfg.min_range_m))
        y = np.asarray(rssi, float).reshape(-1)
        ok = np.isfinite(x) & np.isfinite(y) & (gw >= 0) & (gw < len(self.gateways))
        gw, x, y = gw[ok], x[ok], y[ok]
        g = self.gateways
        r = (y - (g.ref_power[gw] + g.exponent[gw] * x)) / self.sigma_db
        w = np.where(np.abs(r) <= self.huber_k, 1.0, self.huber_k / np.maximum(np.abs(r), 1e-9))
        for j, v in enumerate((w, w * x, w * y, w * x * x, w * x * y)):
            self.S[:, j] += np.bincount(gw, weights=v, minlength=len(g))

    def add_reference(self, gw, tag_xyz, rssi, t: float | None = None) -> None:
        """Readings of a reference tag at ``tag_xyz`` (height above the gateways' floor)."""
        gw = np.asarray(gw, dtype=np.int64).reshape(-1)
        d = np.linalg.norm(self.gateways.xyz[gw] - np.asarray(tag_xyz, float).reshape(-1, 3), axis=1)
        self.add(gw, d, rssi, t)

    def add_gateway_pair(self, rx, tx, rssi, tx_offset_db=0.0, t: float | None = None) -> None:
        """Gateway ``rx`` heard gateway ``tx``; ``tx_offset_db`` = tx gateway's power minus a tag's."""
        rx = np.asarray(rx, dtype=np.int64).reshape(-1)
        tx = np.asarray(tx, dtype=np.int64).reshape(-1)
        same = self.gateways.floor_idx[rx] == self.gateways.floor_idx[tx]
        d = np.linalg.norm(self.gateways.xyz[rx] - self.gateways.xyz[tx], axis=1)
        self.add(rx[same], d[same], (np.asarray(rssi, float) - tx_offset_db).reshape(-1)[same], t)

    def propose(self) -> list[CalibrationProposal]:
        g, cfg = self.gateways, self.cfg
        out = []
        for i in range(len(g)):
            sw, sx, sy, sxx, sxy = self.S[i]
            p0, n0 = float(g.ref_power[i]), float(g.exponent[i])
            if sw < self.min_samples:
                out.append(CalibrationProposal(g.ids[i], float(sw), p0, n0, p0, n0, p0, n0))
                continue
            k = self.prior_samples
            # ridge toward the current values; exponent prior scaled by a typical x spread (5 dB)
            A = np.array([[sw + k, sx], [sx, sxx + 25.0 * k]])
            b = np.array([sy + k * p0, sxy + 25.0 * k * n0])
            tp, tn = np.linalg.solve(A, b)
            pp = p0 + float(np.clip(tp - p0, -self.max_step_db, self.max_step_db))
            pn = n0 + float(np.clip(tn - n0, -self.max_step_exponent, self.max_step_exponent))
            pp = float(np.clip(pp, *cfg.ref_power_bounds))
            pn = float(np.clip(pn, *cfg.exponent_bounds))
            out.append(CalibrationProposal(g.ids[i], float(sw), p0, n0, float(tp), float(tn), pp, pn))
        return out

    def apply(self, gateways: GatewayModel | None = None) -> tuple[GatewayModel, list[CalibrationProposal]]:
        """Take one bounded step; returns the updated model (a copy) and the proposals applied."""
        props = self.propose()
        base = (gateways or self.gateways).copy()
        for i, p in enumerate(props):
            base.ref_power[i] = p.proposed_ref_power
            base.exponent[i] = p.proposed_exponent
        self.gateways = base.copy()
        return base, props
