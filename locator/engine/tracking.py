"""Constant-velocity Kalman filter for many tags at once, with a walking-speed limit.

State per tag: ``(x, y, vx, vy)`` and its 4x4 covariance, stored in arrays indexed by the tag
number. One ``update`` call predicts every listed tag to its own ``dt`` and applies its position
measurement (mean and 2x2 covariance from multilateration or the radio map). Innovations far
outside the predicted spread (a reflection, a stray packet) have their covariance inflated rather
than being trusted; a fix never moves further than ``max_speed * dt + slack`` from the previous
one, and the velocity is clamped to ``max_speed``. A track that went quiet for longer than
``track_timeout_s`` or changed floor restarts from its next measurement.
"""

from __future__ import annotations

import numpy as np

from .config import EngineConfig


class Tracker:
    def __init__(self, cfg: EngineConfig, capacity: int = 1024):
        self.cfg = cfg
        self.x = np.zeros((0, 4))
        self.P = np.zeros((0, 4, 4))
        self.t = np.zeros(0)
        self.floor = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self._grow(capacity)

    def _grow(self, n: int) -> None:
        old = len(self.t)
        if n <= old:
            return
        n = max(n, 2 * old)
        self.x = np.concatenate([self.x, np.zeros((n - old, 4))])
        self.P = np.concatenate([self.P, np.zeros((n - old, 4, 4))])
        self.t = np.concatenate([self.t, np.full(n - old, -np.inf)])
        self.floor = np.concatenate([self.floor, np.full(n - old, -1, dtype=np.int64)])
        self.alive = np.concatenate([self.alive, np.zeros(n - old, dtype=bool)])

    def reset(self, idx) -> None:
        idx = np.asarray(idx, dtype=np.int64)
        idx = idx[idx < len(self.alive)]
        self.alive[idx] = False

    def update(self, idx, t, z, R, floor=None):
        """Fuse measurements ``z`` (T, 2) with covariance ``R`` (T, 2, 2) for tags ``idx`` at time(s) ``t``.

        Returns the filtered positions (T, 2), their covariances (T, 2, 2) and a bool array telling
        which fixes were clamped by the speed limit.
        """
        cfg = self.cfg
        idx = np.asarray(idx, dtype=np.int64)
        T = len(idx)
        if T == 0:
            return np.zeros((0, 2)), np.zeros((0, 2, 2)), np.zeros(0, dtype=bool)
        self._grow(int(idx.max()) + 1)
        t = np.broadcast_to(np.asarray(t, float), (T,))
        floor = np.full(T, -1, dtype=np.int64) if floor is None else np.asarray(floor, dtype=np.int64)
        z = np.asarray(z, float)
        R = np.asarray(R, float) * cfg.meas_cov_scale

        x = self.x[idx].copy()
        P = self.P[idx].copy()
        dt = np.clip(t - self.t[idx], 0.0, None)
        fresh = ~self.alive[idx] | (dt > cfg.track_timeout_s) | (self.floor[idx] != floor)
        dt = np.where(fresh, 0.0, dt)
        prev = x[:, :2].copy()

        # predict
        x[:, :2] += dt[:, None] * x[:, 2:]
        F = np.tile(np.eye(4), (T, 1, 1))
        F[:, 0, 2] = F[:, 1, 3] = dt
        P = F @ P @ F.transpose(0, 2, 1)
        q = cfg.accel_psd
        q11, q12, q22 = q * dt**3 / 3.0, q * dt**2 / 2.0, q * dt
        for a in (0, 1):
            P[:, a, a] += q11
            P[:, a, a + 2] += q12
            P[:, a + 2, a] += q12
            P[:, a + 2, a + 2] += q22

        # successive windows overlap: a fix dt after the previous one carries only about dt / window_s
        # of new information, so its covariance is inflated by window_s / dt (makes the tracked
        # covariance, hence the accuracy radius, independent of how often solve() is called)
        overlap = np.where(fresh, 1.0, np.clip(cfg.window_s / np.maximum(dt, 1e-3), 1.0, 10.0))
        R = R * overlap[:, None, None]

        # update, with covariance inflation for implausible innovations
        y = z - x[:, :2]
        S = P[:, :2, :2] + R
        d2 = np.einsum("ti,tij,tj->t", y, np.linalg.inv(S), y)
        infl = np.maximum(1.0, d2 / cfg.gate_sigma**2)
        Ri = R * infl[:, None, None]
        S = P[:, :2, :2] + Ri
        Sinv = np.linalg.inv(S)
        K = P[:, :, :2] @ Sinv
        x = x + np.einsum("tij,tj->ti", K, y)
        P = P - K @ S @ K.transpose(0, 2, 1)
        P = 0.5 * (P + P.transpose(0, 2, 1))

        # speed limit on the velocity and on the displacement since the previous fix
        v = np.linalg.norm(x[:, 2:], axis=1)
        vmax = cfg.max_speed_mps
        x[:, 2:] *= np.minimum(1.0, vmax / np.maximum(v, 1e-9))[:, None]
        step = x[:, :2] - prev
        dist = np.linalg.norm(step, axis=1)
        allow = vmax * dt + cfg.jump_slack_m
        clamped = ~fresh & (dist > allow)
        scale = np.where(clamped, allow / np.maximum(dist, 1e-9), 1.0)
        x[:, :2] = np.where(clamped[:, None], prev + step * scale[:, None], x[:, :2])
        lag2 = np.where(clamped, (dist - allow) ** 2 / 2.0, 0.0)  # the track lags: say so
        P[:, 0, 0] += lag2
        P[:, 1, 1] += lag2

        # (re)start tracks from the measurement itself
        if fresh.any():
            x[fresh, :2] = z[fresh]
            x[fresh, 2:] = 0.0
            P[fresh] = 0.0
            P[fresh, :2, :2] = R[fresh]
            P[fresh, 2, 2] = P[fresh, 3, 3] = (0.5 * vmax) ** 2

        self.x[idx], self.P[idx], self.t[idx], self.floor[idx] = x, P, t, floor
        self.alive[idx] = True
        return x[:, :2].copy(), P[:, :2, :2].copy(), clamped
