"""Radio map from a survey walk, and probabilistic fingerprinting against it.

A survey (sightings recorded at known positions) tells what each gateway really hears at each
place, walls and furniture included. The map is a grid (default 0.2 m) holding, per gateway, the
expected RSSI: a Gaussian-kernel (Nadaraya-Watson) average of the survey readings near the cell,
blended with the calibrated path-loss model where the survey is thin. Binning the survey into cells
and blurring with ``scipy.ndimage.gaussian_filter`` makes building it linear in the grid size.

Locating a windowed RSSI vector is a grid likelihood: each cell scores ``-sum_k rho((rssi_k -
mu_k(cell)) / sigma)`` with a Huber ``rho``; cells far from any survey point get a penalty (the
survey walk covers where tags can be). The posterior mean and covariance over cells are the
measurement handed to the tracker, so an ambiguous reading (two similar places) comes with a
large covariance instead of a confident wrong point. This is a weighted kNN over a smoothed,
interpolated map; on the Kolakowski calibration walk it beats plain kNN on raw survey vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from .gateways import GatewayModel, distance_to_rssi


@dataclass
class RadioMap:
    """Expected RSSI per (cell, gateway) for one floor."""

    floor: object
    cells: np.ndarray  # (C, 2) cell centres
    mu: np.ndarray  # (M, C) expected RSSI of mapped gateway m at each cell
    support: np.ndarray  # (C,) survey density (about 1 for one sample at the cell)
    column: np.ndarray  # (G,) gateway row -> map row m, -1 when the gateway is not in the map
    resolution: float
    origin: np.ndarray | None = None  # (2,) centre of grid cell (0, 0)
    shape: tuple[int, int] = (0, 0)  # (ny, nx) of the full grid
    lookup: np.ndarray | None = None  # (ny * nx,) full-grid index -> row of ``cells`` or -1
    support_min: float = 0.5
    off_support_penalty: float = 3.0
    cell_room: np.ndarray | None = None  # (C,) index into ``room_keys`` of the room holding each cell, -1 none
    room_keys: list | None = None
    wall_db: np.ndarray | None = None  # (M, C) wall losses of a map predicted from the floor plan (walls.py)

    @property
    def gateway_rows(self) -> np.ndarray:
        return np.flatnonzero(self.column >= 0)

    @classmethod
    def build(cls, gateways: GatewayModel, floor, xy, gw, rssi, *, tag_height_m: float = 1.2,
              resolution: float = 0.2, bandwidth: float = 0.3, model_weight: float = 0.3,
              margin: float = 1.0, min_samples: int = 10, keep_support: float = 0.02) -> RadioMap:
        """Map of ``floor`` from survey readings ``rssi`` at gateway rows ``gw`` and positions ``xy``.

        ``model_weight`` is the pseudo-count of the path-loss model prior in every cell: where the
        blurred survey count is well above it the survey dominates. Cells whose survey density is
        below ``keep_support`` are dropped (nothing is known there).
        """
        xy = np.asarray(xy, float).reshape(-1, 2)
        gw = np.asarray(gw, dtype=np.int64)
        rssi = np.asarray(rssi, float)
        lo = xy.min(0) - margin
        hi = xy.max(0) + margin
        nx, ny = (np.ceil((hi - lo) / resolution).astype(int) + 1).tolist()
        ix = np.clip(((xy[:, 0] - lo[0]) / resolution).round().astype(int), 0, nx - 1)
        iy = np.clip(((xy[:, 1] - lo[1]) / resolution).round().astype(int), 0, ny - 1)
        cell_of = iy * nx + ix
        s = bandwidth / resolution
        norm = 2 * np.pi * s * s

        # support: density of distinct survey positions (one per sample time)
        pos_key = np.unique(np.c_[cell_of, np.round(xy / 0.05).astype(np.int64)], axis=0)[:, 0]
        support = gaussian_filter(np.bincount(pos_key, minlength=nx * ny).reshape(ny, nx).astype(float), s,
                                  mode="constant") * norm
        gx, gy = np.meshgrid(lo[0] + resolution * np.arange(nx), lo[1] + resolution * np.arange(ny))
        cells_all = np.c_[gx.ravel(), gy.ravel()]
        keep = support.ravel() >= keep_support

        on_floor = np.flatnonzero(gateways.floor == floor)
        counts = np.bincount(gw, minlength=len(gateways))
        mapped = on_floor[counts[on_floor] >= min_samples]
        column = np.full(len(gateways), -1, dtype=np.int64)
        column[mapped] = np.arange(len(mapped))
        mu = np.empty((len(mapped), int(keep.sum())))
        cells = cells_all[keep]
        for m, g in enumerate(mapped.tolist()):
            sel = gw == g
            S = np.bincount(cell_of[sel], weights=rssi[sel], minlength=nx * ny).reshape(ny, nx)
            N = np.bincount(cell_of[sel], minlength=nx * ny).reshape(ny, nx).astype(float)
            Sb = gaussian_filter(S, s, mode="constant").ravel()[keep] * norm
            Nb = gaussian_filter(N, s, mode="constant").ravel()[keep] * norm
            d = np.sqrt(((cells - gateways.xyz[g, :2]) ** 2).sum(1) + (gateways.xyz[g, 2] - tag_height_m) ** 2)
            model = distance_to_rssi(d, gateways.ref_power[g], gateways.exponent[g])
            mu[m] = (Sb + model_weight * model) / (Nb + model_weight)
        lookup = np.full(nx * ny, -1, dtype=np.int64)
        lookup[keep] = np.arange(int(keep.sum()))
        return cls(floor=floor, cells=cells, mu=mu, support=support.ravel()[keep], column=column,
                   resolution=resolution, origin=lo, shape=(ny, nx), lookup=lookup)

    def clear_cache(self) -> None:
        self._mu32_cache = None

    def _mu32(self) -> np.ndarray:
        """The map as float32 with one extra all-zero row (the target of padded entries)."""
        if getattr(self, "_mu32_cache", None) is None or self._mu32_cache.shape[0] != len(self.mu) + 1:
            self._mu32_cache = np.vstack([self.mu, np.zeros((1, self.mu.shape[1]))]).astype(np.float32)
        return self._mu32_cache

    def candidates(self, center, window_m: float, stride: int = 1) -> np.ndarray:
        """(T, W) cell rows within a square of half-size ``window_m`` around each centre, every
        ``stride``-th cell in each direction; -1 pads (outside the grid or unsurveyed)."""
        hw = int(np.ceil(window_m / self.resolution / stride)) * stride
        ny, nx = self.shape
        off = np.arange(-hw, hw + 1, stride)
        ox, oy = np.meshgrid(off, off)
        c = np.rint((np.asarray(center, float) - self.origin) / self.resolution).astype(np.int64)
        gx = c[:, 0:1] + ox.ravel()[None, :]
        gy = c[:, 1:2] + oy.ravel()[None, :]
        inside = (gx >= 0) & (gx < nx) & (gy >= 0) & (gy < ny)
        flat = np.where(inside, gy * nx + gx, 0)
        return np.where(inside, self.lookup[flat], -1)

    def locate(self, gw, rssi, mask, sigma_db: float = 4.5, huber_k: float = 1.5, center=None,
               window_m: float = 8.0, coarse_m: float = 1.0, fine_m: float = 1.2, max_block: int = 4_000_000,
               rooms: bool = False):
        """Posterior mean (T, 2), covariance (T, 2, 2) and number of mapped gateways (T,) per tag.

        With ``rooms`` (and a map whose cells are labelled with rooms), also the posterior
        probability of each room (T, len(room_keys)) from the same cell weights (the coarse stage's
        on a large map): a tag by a wall is split between the two rooms instead of being a point
        on the wrong side of it.

        ``gw``, ``rssi``, ``mask`` are (T, K) padded arrays (gateway rows, dBm, valid flags). Small
        maps are scored whole. On a map larger than a ``2 window_m`` square, the search is
        coarse-to-fine around ``center`` (T, 2), e.g. the multilateration fix: cells every
        ``coarse_m`` within ``window_m``, then every cell within ``fine_m`` of the coarse mean; the
        covariance is the larger of the two stages' (the coarse one sees ambiguity far away).
        """
        T, K = rssi.shape
        col = np.where(mask, self.column[np.clip(gw, 0, len(self.column) - 1)], -1)
        valid = col >= 0
        n_in = valid.sum(1)
        C = len(self.cells)
        rooms = rooms and self.cell_room is not None
        R = len(self.room_keys) if rooms else 0
        if C == 0 or T == 0:
            out = np.full((T, 2), np.nan), np.full((T, 2, 2), np.nan), n_in
            return (*out, np.full((T, R), np.nan)) if rooms else out
        # invalid entries point at an all-zero map row and read 0 dBm: their mismatch is exactly 0
        colc = np.where(valid, col, len(self.mu))
        r32 = np.where(valid, np.asarray(rssi, float), 0.0).astype(np.float32)
        args = (colc, r32, sigma_db, huber_k, max_block)
        windowed = center is not None and self.lookup is not None and \
            (2 * window_m / self.resolution + 1) ** 2 < C
        if not windowed:
            m, c, p = self._score(None, *args, rooms=rooms)
            return (m, c, n_in, p) if rooms else (m, c, n_in)
        stride = max(1, int(round(coarse_m / self.resolution)))
        mc, cc, p = self._score(self.candidates(center, window_m, stride), *args, cell=stride * self.resolution,
                                rooms=rooms)
        ok = np.isfinite(mc).all(1)
        mf, cf, _ = self._score(self.candidates(np.where(ok[:, None], mc, center), fine_m), *args)
        bigger = np.trace(cc, axis1=1, axis2=2) > np.trace(cf, axis1=1, axis2=2)
        cov = np.where(bigger[:, None, None], cc, cf)
        xy = np.where(np.isfinite(mf).all(1)[:, None], mf, mc)
        return (xy, cov, n_in, p) if rooms else (xy, cov, n_in)

    def _score(self, cand, colc, rssi, sigma_db, huber_k, max_block, cell=None, rooms=False):
        """Posterior mean, covariance and (with ``rooms``) room probabilities over candidate cells
        (T, W), or all cells if ``cand`` is None."""
        T, K = rssi.shape
        mu_all = self._mu32()
        C = len(self.cells)
        W = C if cand is None else cand.shape[1]
        penalty = np.where(self.support < self.support_min, -self.off_support_penalty, 0.0)
        xy = np.full((T, 2), np.nan)
        cov = np.full((T, 2, 2), np.nan)
        R = len(self.room_keys) if rooms else 0
        probs = np.full((T, R), np.nan)
        chunk = max(1, max_block // max(1, W * K))
        base = np.eye(2) * ((cell or self.resolution) ** 2 / 12.0)
        for a in range(0, T, chunk):
            b = min(T, a + chunk)
            if cand is None:
                mu = mu_all[colc[a:b]]  # (t, K, C)
                prior = penalty[None, :]
                pts = np.broadcast_to(self.cells, (b - a, C, 2))
                ci = np.broadcast_to(np.arange(C), (b - a, C))
            else:
                ok = cand[a:b] >= 0
                ci = np.where(ok, cand[a:b], 0)
                mu = mu_all[colc[a:b, :, None], ci[:, None, :]]  # (t, K, W)
                prior = np.where(ok, penalty[ci], -np.inf)
                pts = self.cells[ci]  # (t, W, 2)
            au = np.abs(rssi[a:b, :, None] - mu)
            au *= np.float32(1.0 / sigma_db)
            hk = np.minimum(au, np.float32(huber_k))
            L = prior - (hk * (au - 0.5 * hk)).sum(1, dtype=np.float64)  # Huber rho, fewer temporaries
            top = L.max(1, keepdims=True)
            good = np.isfinite(top[:, 0])
            w = np.exp(L - np.where(good[:, None], top, 0.0))
            w /= np.maximum(w.sum(1, keepdims=True), 1e-300)
            m = np.einsum("tc,tci->ti", w, pts)
            d = pts - m[:, None, :]
            c = np.einsum("tc,tci,tcj->tij", w, d, d) + base
            m[~good], c[~good] = np.nan, np.nan
            xy[a:b], cov[a:b] = m, c
            if rooms:
                room = self.cell_room[ci]  # (t, W); padded candidates have weight 0
                inroom = room >= 0
                flat = (np.arange(b - a)[:, None] * R + room)[inroom]
                p = np.bincount(flat, weights=w[inroom], minlength=(b - a) * R).reshape(b - a, R)
                total = p.sum(1, keepdims=True)
                p = np.where(total > 0, p / np.maximum(total, 1e-300), np.nan)
                p[~good] = np.nan
                probs[a:b] = p
        return xy, cov, probs
