"""The radio model: what RSSI each gateway sees for each transmitter, vectorised over all pairs.

Mean received power (dBm) of transmitter n at gateway g::

    P = P1m[n] - 10 * n_exp * log10(d) - wall_db * walls(n, g) - floor_db * |floors between| - extra[n]
        + S(n, g)            # log-normal shadowing, a fixed random field in space per gateway
        + s(n, g, t)         # slow temporal shadowing (people walking by): Ornstein-Uhlenbeck process
        + f                  # fast fading, per packet: Rician amplitude in dB

``d`` is the 3-D distance (gateways on the ceiling, tags at about 1 m, floors at their elevations).
``walls`` counts the room outlines the gateway-tag segment crosses on the gateway's floor; it is
precomputed once per gateway on a grid (0.5 m) of its floor, so a step costs one gather. The spatial
shadowing is a sum of random plane waves per gateway (wavelengths 4-12 m): the same spot always gives
the same shadowing, and it decorrelates over a metre or two, as measured indoors. A packet is heard
when its RSSI is at least the gateway sensitivity (-95 dBm) and it survives packet loss (a base rate
that grows near the sensitivity: collisions, scan-window misses, weak-signal CRC errors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .world import World

_GRID_CACHE: dict[tuple, np.ndarray] = {}  # wall grids of recently built worlds (tests build several)


@dataclass(frozen=True)
class RadioParams:
    path_loss_exponent: float = 2.1
    wall_loss_db: float = 5.0
    floor_loss_db: float = 18.0
    shadow_sigma_db: float = 3.5  # spatial (log-normal) shadowing
    shadow_wavelength_m: tuple[float, float] = (4.0, 12.0)
    shadow_components: int = 6
    temporal_sigma_db: float = 1.5  # slow variation (people, doors)
    temporal_tau_s: float = 30.0
    rician_k_db: float = 6.0  # fast fading; lower is deeper fades
    sensitivity_dbm: float = -95.0
    base_loss: float = 0.05  # packet loss well above the sensitivity
    weak_loss: float = 0.5  # extra loss at the sensitivity, fading out 8 dB above it
    grid_m: float = 0.5
    max_walls: int = 20


class RadioModel:
    """Gateway-side precomputation (wall grids, shadowing fields) plus per-pair state."""

    def __init__(self, world: World, params: RadioParams, rng: np.random.Generator):
        self.p = params
        self.rng = rng
        gws = world.gateways
        self.M = len(gws)
        self.floors = world.floors
        fi = world.floor_index
        self.g_floor = np.array([fi[g.floor] for g in gws], dtype=np.int16)
        self.g_x = np.array([g.x for g in gws])
        self.g_y = np.array([g.y for g in gws])
        elev = np.array([f.elevation_m for f in world.floors])
        self.elev = elev
        self.g_z = np.array([g.z for g in gws]) + elev[self.g_floor]
        self._build_grids()
        # spatial shadowing: K plane waves per gateway, independent per floor (phase offset)
        K = params.shadow_components
        lam = rng.uniform(*params.shadow_wavelength_m, size=(self.M, K))
        ang = rng.uniform(0, 2 * math.pi, size=(self.M, K))
        k = 2 * math.pi / lam
        self.kx = k * np.cos(ang)
        self.ky = k * np.sin(ang)
        self.phase = rng.uniform(0, 2 * math.pi, size=(self.M, K))
        self.floor_phase = rng.uniform(0, 2 * math.pi, size=(len(world.floors), self.M, K))
        self.amp = params.shadow_sigma_db * math.sqrt(2.0 / K)

    # ------------------------------------------------------------------------------- wall grids
    def _build_grids(self) -> None:
        res = self.p.grid_m
        self.grid: list[tuple[float, float, int, int]] = []  # x0, y0, nx, ny per floor
        cells_max = 0
        for f in self.floors:
            x0, y0, x1, y1 = f.bounds
            nx = max(1, math.ceil((x1 - x0) / res))
            ny = max(1, math.ceil((y1 - y0) / res))
            self.grid.append((x0, y0, nx, ny))
            cells_max = max(cells_max, nx * ny)
        key = (
            res,
            self.p.max_walls,
            tuple((tuple(f.walls), f.bounds) for f in self.floors),
            tuple(zip(self.g_floor.tolist(), self.g_x.tolist(), self.g_y.tolist(), strict=True)),
        )
        cached = _GRID_CACHE.get(key)
        if cached is not None:
            self.walls = cached
            return
        self.walls = np.zeros((self.M, cells_max), dtype=np.int8)
        for fidx, f in enumerate(self.floors):
            x0, y0, nx, ny = self.grid[fidx]
            cx = x0 + (np.arange(nx) + 0.5) * res
            cy = y0 + (np.arange(ny) + 0.5) * res
            bx, by = (a.ravel() for a in np.meshgrid(cx, cy, indexing="ij"))  # cell = ix * ny + iy
            w = np.array(f.walls, dtype=np.float64).reshape(-1, 4)
            for g in np.nonzero(self.g_floor == fidx)[0]:
                self.walls[g, : nx * ny] = self._crossings(self.g_x[g], self.g_y[g], bx, by, w)
        if len(_GRID_CACHE) >= 4:
            _GRID_CACHE.clear()
        _GRID_CACHE[key] = self.walls

    def _crossings(self, ax: float, ay: float, bx: np.ndarray, by: np.ndarray, w: np.ndarray) -> np.ndarray:
        """How many wall segments each segment (a -> b_i) crosses. Half-open at wall end points so a
        crossing through the joint of two collinear wall pieces counts once. Coordinates are taken
        relative to ``a`` so float32 keeps millimetre precision."""
        if len(w) == 0:
            return np.zeros(len(bx), dtype=np.int8)
        f32 = np.float32
        cx, cy = (w[:, 0] - ax).astype(f32), (w[:, 1] - ay).astype(f32)
        dx, dy = (w[:, 2] - ax).astype(f32), (w[:, 3] - ay).astype(f32)
        ex, ey = dx - cx, dy - cy  # wall direction
        a_side = (ey * cx - ex * cy) > 0  # side of a (the origin) relative to each wall
        k = ex * cy - ey * cx
        ux_all = (bx - ax).astype(f32)
        uy_all = (by - ay).astype(f32)
        out = np.zeros(len(bx), dtype=np.int32)
        step = max(1, 400_000 // len(w))
        for s in range(0, len(bx), step):
            ux = ux_all[s : s + step, None]
            uy = uy_all[s : s + step, None]
            o1 = ux * cy - uy * cx  # side of the wall's start relative to the segment
            o2 = ux * dy - uy * dx
            o4 = ex * uy - ey * ux - k  # side of b relative to the wall
            hit = ((o1 > 0) ^ (o2 > 0)) & ((o4 > 0) ^ a_side)
            out[s : s + step] = hit.sum(axis=1)
        return np.minimum(out, self.p.max_walls).astype(np.int8)

    def cell_index(self, fidx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(F, n) cell index of each point on every floor's grid (clamped to the grid)."""
        res = self.p.grid_m
        out = np.empty((len(self.floors), len(x)), dtype=np.int64)
        for i, (x0, y0, nx, ny) in enumerate(self.grid):
            ix = np.clip(((x - x0) / res).astype(np.int64), 0, nx - 1)
            iy = np.clip(((y - y0) / res).astype(np.int64), 0, ny - 1)
            out[i] = ix * ny + iy
        return out

    # ------------------------------------------------------------------------------- mean power
    def mean_rssi(
        self, fidx: np.ndarray, x: np.ndarray, y: np.ndarray, zrel: np.ndarray, p1m: np.ndarray
    ) -> np.ndarray:
        """(n, M) mean RSSI (path loss, walls, floors, spatial shadowing) of n transmitters."""
        p = self.p
        z = zrel + self.elev[fidx]
        dx = x[:, None] - self.g_x[None, :]
        dy = y[:, None] - self.g_y[None, :]
        dz = z[:, None] - self.g_z[None, :]
        d = np.sqrt(dx * dx + dy * dy + dz * dz)
        np.maximum(d, 0.3, out=d)
        rssi = p1m[:, None] - (10.0 * p.path_loss_exponent) * np.log10(d)
        cells = self.cell_index(fidx, x, y)  # (F, n)
        gcells = cells[self.g_floor.astype(np.int64)]  # (M, n): each gateway's own floor grid
        walls = self.walls[np.arange(self.M)[:, None], gcells].T  # (n, M)
        rssi -= p.wall_loss_db * walls
        nfl = np.abs(fidx[:, None].astype(np.int32) - self.g_floor[None, :].astype(np.int32))
        rssi -= p.floor_loss_db * nfl
        # spatial shadowing field
        arg = (
            x[:, None, None] * self.kx[None]
            + y[:, None, None] * self.ky[None]
            + self.phase[None]
            + self.floor_phase[fidx]
        )
        rssi += self.amp * np.cos(arg).sum(axis=2)
        return rssi

    # ------------------------------------------------------------------------------- per packet
    def fading_db(self, n: int) -> np.ndarray:
        """Rician fast fading in dB (mean power normalised to 0 dB)."""
        k = 10 ** (self.p.rician_k_db / 10)
        los = math.sqrt(k / (k + 1))
        s = math.sqrt(1 / (2 * (k + 1)))
        re = los + s * self.rng.standard_normal(n)
        im = s * self.rng.standard_normal(n)
        return 10 * np.log10(np.maximum(re * re + im * im, 1e-6))

    def received(self, rssi: np.ndarray) -> np.ndarray:
        """Which packets (of these RSSI values) a gateway receives."""
        p = self.p
        margin = np.clip((rssi - p.sensitivity_dbm) / 8.0, 0.0, 1.0)
        loss = p.base_loss + p.weak_loss * (1.0 - margin)
        return (rssi >= p.sensitivity_dbm) & (self.rng.random(len(rssi)) >= loss)
