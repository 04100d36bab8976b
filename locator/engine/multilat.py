"""Robust multilateration of many tags at once, in the RSSI (dB) domain.

Each tag ``t`` has up to ``K`` gateways (padded, with a mask). Unknowns per tag: horizontal
position ``(x, y)`` and, optionally, a transmit-power offset ``b`` (tags of different models
transmit at different powers). The tag height is fixed, so ranges are 3-D:

    rssi_k ~ ref_power_k + b - 10 * exponent_k * log10(sqrt(|p - g_k|^2 + dz_k^2))

Residuals are in dB, where indoor RSSI noise is roughly log-normal and homoscedastic; a far
gateway's reading constrains the position less because its gradient (10 n / ln10 / d) is smaller,
and weak readings also get a larger sigma. Huber weights (IRLS) tame outlier gateways (a door
closing, a body in the way). Levenberg-Marquardt steps are taken for all tags together with
batched 3x3 solves, so one call handles tens of thousands of tags without a Python loop.

One gateway: the gateway's position, accuracy about the estimated range. Two: the point on the
segment between them split in proportion to the ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import EngineConfig
from .gateways import LN10, horizontal_range, rssi_to_distance

METHOD_NONE, METHOD_ONE, METHOD_TWO, METHOD_MULTILAT, METHOD_FINGERPRINT, METHOD_FUSED = range(6)
METHOD_NAMES = np.array(["none", "one_gateway", "two_gateways", "multilateration", "fingerprint", "fused"],
                        dtype=object)


@dataclass
class Problem:
    """Padded per-tag measurement arrays, shape (T, K) unless noted."""

    gxy: np.ndarray  # (T, K, 2) gateway positions
    dz: np.ndarray  # gateway height minus tag height
    rssi: np.ndarray
    ref_power: np.ndarray
    exponent: np.ndarray
    mask: np.ndarray  # bool, valid entries (sorted strongest first)
    offset0: np.ndarray  # (T,) prior mean of the tag's power offset, dB
    lo: np.ndarray  # (T, 2) lower corner of the allowed box
    hi: np.ndarray  # (T, 2) upper corner

    def __len__(self) -> int:
        return len(self.rssi)


@dataclass
class Solution:
    xy: np.ndarray  # (T, 2)
    cov: np.ndarray  # (T, 2, 2) position covariance, m^2
    offset: np.ndarray  # (T,) power offset, dB (offset0 where not estimated)
    method: np.ndarray  # (T,) METHOD_* codes
    n_gateways: np.ndarray  # (T,)
    rms_db: np.ndarray  # (T,) weighted RMS residual, dB (nan for fallbacks)


def solve(problem: Problem, cfg: EngineConfig) -> Solution:
    """Position every tag of ``problem``; chooses fallbacks by the number of gateways."""
    T = len(problem)
    m = problem.mask.sum(1)
    xy = np.zeros((T, 2))
    cov = np.tile(np.eye(2), (T, 1, 1)) * 1e4
    offset = problem.offset0.astype(float).copy()
    method = np.full(T, METHOD_NONE, dtype=np.int64)
    rms = np.full(T, np.nan)

    d = rssi_to_distance(problem.rssi - problem.offset0[:, None], problem.ref_power, problem.exponent,
                         cfg.min_range_m)
    h = horizontal_range(d, problem.dz)

    one = m == 1
    if one.any():
        xy[one] = problem.gxy[one, 0]
        r = np.maximum(h[one, 0], 1.0)  # reported accuracy of a fresh track = the estimated range
        cov[one] = np.eye(2) * ((r / cfg.accuracy_scale) ** 2 / 2.0)[:, None, None]
        method[one] = METHOD_ONE

    two = m == 2
    if two.any():
        g1, g2 = problem.gxy[two, 0], problem.gxy[two, 1]
        h1, h2 = h[two, 0], h[two, 1]
        frac = (h1 / (h1 + h2))[:, None]
        xy[two] = g1 + (g2 - g1) * frac
        span = np.linalg.norm(g2 - g1, axis=1)
        var = (np.minimum(h1, h2) ** 2 + (0.25 * span) ** 2) / 2.0 + 0.25
        cov[two] = np.eye(2) * var[:, None, None]
        method[two] = METHOD_TWO

    many = m >= 3
    if many.any():
        sub = _take(problem, many)
        s_xy, s_cov, s_off, s_rms = _lm(sub, h[many], cfg)
        xy[many], cov[many], offset[many], rms[many] = s_xy, s_cov, s_off, s_rms
        method[many] = METHOD_MULTILAT

    xy = np.clip(xy, problem.lo, problem.hi)
    return Solution(xy=xy, cov=cov, offset=offset, method=method, n_gateways=m, rms_db=rms)


def _take(p: Problem, sel) -> Problem:
    return Problem(*(getattr(p, f)[sel] for f in Problem.__dataclass_fields__))


def _sigma(rssi, cfg: EngineConfig):
    return cfg.sigma_db * (1.0 + np.maximum(cfg.weak_dbm - rssi, 0.0) / cfg.weak_scale_db)


def _rho(u, k, cauchy: bool):
    if cauchy:
        return 0.5 * k * k * np.log1p((u / k) ** 2)
    return np.where(u <= k, 0.5 * u * u, k * (u - 0.5 * k))


def _weight(u, k, cauchy: bool):
    if cauchy:
        return 1.0 / (1.0 + (u / k) ** 2)
    return np.where(u <= k, 1.0, k / np.maximum(u, 1e-12))


def _normal(gx, gy, w, r):
    """Entries of J^T W J and J^T W r for J = [d/dx, d/dy, d/db] (the last column is ones)."""
    wx, wy = w * gx, w * gy
    A = np.empty((len(w), 3, 3))
    A[:, 0, 0] = (wx * gx).sum(1)
    A[:, 0, 1] = A[:, 1, 0] = (wx * gy).sum(1)
    A[:, 0, 2] = A[:, 2, 0] = wx.sum(1)
    A[:, 1, 1] = (wy * gy).sum(1)
    A[:, 1, 2] = A[:, 2, 1] = wy.sum(1)
    A[:, 2, 2] = w.sum(1)
    g = np.stack([(wx * r).sum(1), (wy * r).sum(1), (w * r).sum(1)], axis=1)
    return A, g


def _inv3(A):
    """Inverse of symmetric positive definite 3x3 matrices (T, 3, 3), closed form."""
    a, b, c = A[:, 0, 0], A[:, 0, 1], A[:, 0, 2]
    d, e, f = A[:, 1, 1], A[:, 1, 2], A[:, 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    inv = np.empty_like(A)
    inv[:, 0, 0], inv[:, 1, 1], inv[:, 2, 2] = c00, c11, c22
    inv[:, 0, 1] = inv[:, 1, 0] = c01
    inv[:, 0, 2] = inv[:, 2, 0] = c02
    inv[:, 1, 2] = inv[:, 2, 1] = c12
    return inv / det[:, None, None]


def _lm(p: Problem, h, cfg: EngineConfig):
    """Levenberg-Marquardt IRLS for tags with >= 3 gateways; returns xy, cov, offset, rms."""
    T, K = p.rssi.shape
    mask = p.mask
    fm = mask.astype(float)
    sig = _sigma(p.rssi, cfg)
    inv_s2 = fm / sig**2
    k = cfg.huber_k
    cauchy = cfg.robust_loss == "cauchy"

    # start: centroid weighted by 1/range^2 (a stable, always-inside guess)
    w0 = fm / np.maximum(h, 0.5) ** 2
    start = (w0[..., None] * p.gxy).sum(1) / w0.sum(1)[:, None]
    n_par = 3 if cfg.estimate_tag_offset else 2
    prior = np.array([1.0 / cfg.prior_sigma_m**2, 1.0 / cfg.prior_sigma_m**2,
                      1.0 / cfg.tag_offset_sigma_db**2 if cfg.estimate_tag_offset else 1e6])
    theta0 = np.concatenate([start, p.offset0[:, None]], axis=1)
    gxy_x, gxy_y = p.gxy[..., 0], p.gxy[..., 1]
    dz2 = p.dz**2
    c10 = -10.0 / LN10 * p.exponent
    ref5 = 5.0 * p.exponent
    minr2 = cfg.min_range_m**2

    pscale = np.ones((T, 1))  # prior strength relative to the data; adapted half-way (below)

    def evaluate(theta):
        dx = theta[:, 0:1] - gxy_x
        dy = theta[:, 1:2] - gxy_y
        D2 = np.maximum(dx * dx + dy * dy + dz2, minr2)
        r = p.rssi - (p.ref_power + theta[:, 2:3] - ref5 * np.log10(D2))
        u = np.abs(r) / sig
        rho = _rho(u, k, cauchy)
        dth = theta - theta0
        cost = (rho * fm).sum(1) + 0.5 * (dth * dth * prior * pscale).sum(1)
        q = c10 / D2
        return cost, r, u, q * dx, q * dy

    theta = theta0.copy()
    lam = np.full(T, 1e-2)
    cost, r, u, gx, gy = evaluate(theta)
    dof = np.maximum(mask.sum(1) - n_par, 1)
    for it in range(cfg.iterations):
        w = _weight(u, k, cauchy) * inv_s2
        if it == cfg.iterations // 2:
            # readings that agree with each other (small chi^2) need little pull to the centroid;
            # inconsistent ones (biased model, furniture) keep it: scale the prior by chi^2 / dof
            pscale = np.clip((w * r * r).sum(1) / dof, 0.01, 4.0)[:, None]
            cost, r, u, gx, gy = evaluate(theta)
        pr = prior * pscale
        A, g = _normal(gx, gy, w, r)
        g -= pr * (theta - theta0)
        A[:, 0, 0] += pr[:, 0] + lam * A[:, 0, 0]
        A[:, 1, 1] += pr[:, 1] + lam * A[:, 1, 1]
        A[:, 2, 2] += pr[:, 2] + lam * A[:, 2, 2]
        step = np.einsum("tij,tj->ti", _inv3(A), g)
        cand = theta + step
        cand[:, :2] = np.clip(cand[:, :2], p.lo, p.hi)
        c_new, r_new, u_new, gx_new, gy_new = evaluate(cand)
        ok = c_new <= cost
        theta[ok], cost[ok], r[ok], u[ok], gx[ok], gy[ok] = cand[ok], c_new[ok], r_new[ok], u_new[ok], \
            gx_new[ok], gy_new[ok]
        lam = np.where(ok, np.maximum(lam / 3.0, 1e-6), np.minimum(lam * 10.0, 1e6))

    # covariance at the solution, scaled by how well the readings agree with each other
    w = _weight(u, k, cauchy) * inv_s2
    A, _ = _normal(gx, gy, w, r)
    A[:, 0, 0] += prior[0] * pscale[:, 0]
    A[:, 1, 1] += prior[1] * pscale[:, 0]
    A[:, 2, 2] += prior[2] * pscale[:, 0]
    C = _inv3(A)
    chi2 = (w * r**2).sum(1)
    m = mask.sum(1)
    dof = np.maximum(m - n_par, 0)
    nu0 = 3.0
    s2 = np.clip((chi2 + nu0) / (dof + nu0), 0.5, 25.0)
    cov = C[:, :2, :2] * s2[:, None, None]
    rms = np.sqrt(((r**2) * fm).sum(1) / np.maximum(m, 1))
    return theta[:, :2], cov, theta[:, 2], rms
