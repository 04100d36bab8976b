"""The positioning engine: sightings in, one tracked fix per tag out, for all tags at once.

    engine = Engine(gateways, EngineConfig(), radio_maps=None)
    engine.ingest(t, gateway_rows, tag_ids, rssi)     # every decoded batch
    fixes = engine.solve(now)                          # every ~1 s: FixBatch of arrays

``solve`` runs, vectorised over every tag heard in the last ``window_s``:
  1. trimmed-mean RSSI per (tag, gateway) over the window;
  2. floor: decaying per-floor evidence with hysteresis (``FloorTracker``);
  3. the tag's strongest same-floor gateways (at most ``max_gateways``);
  4. robust multilateration in dB (one/two-gateway fallbacks), with a learnt per-tag power offset;
  5. where a survey radio map of the floor exists: grid-likelihood fingerprinting, fused with
     multilateration by inverse covariance when the two agree;
  6. constant-velocity Kalman tracking with a speed limit;
  7. accuracy radius from the tracked covariance, confidence from accuracy and gateway count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import multilat
from .aggregate import SightingBuffer, TagIndex
from .config import EngineConfig
from .floors import FloorTracker
from .gateways import GatewayModel
from .tracking import Tracker
from .walls import refresh_plan_map


@dataclass
class FixBatch:
    """Fixes of one solve, as parallel arrays (one row per tag)."""

    t: float
    tag_ids: np.ndarray  # object
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray  # height above the floor (the assumed tag height)
    floor: np.ndarray  # object: the gateways' floor labels
    accuracy_m: np.ndarray  # radius that should contain the true position ~75 % of the time
    confidence: np.ndarray  # 0..1
    n_gateways: np.ndarray
    method: np.ndarray  # object: "one_gateway", "two_gateways", "multilateration", "fingerprint", "fused"
    room_probs: np.ndarray | None = None  # object: {room key: probability} from a floor-plan map, or None

    def __len__(self) -> int:
        return len(self.tag_ids)

    @classmethod
    def empty(cls, t: float) -> FixBatch:
        e = np.zeros(0)
        return cls(t, np.zeros(0, dtype=object), e, e.copy(), e.copy(), np.zeros(0, dtype=object), e.copy(),
                   e.copy(), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object))

    def records(self) -> list[dict]:
        cols = ("tag_ids", "x", "y", "z", "floor", "accuracy_m", "confidence", "n_gateways", "method")
        arrs = [getattr(self, c).tolist() for c in cols]
        names = ("tag_id",) + cols[1:]
        return [dict(zip(names, row, strict=True), t=self.t) for row in zip(*arrs, strict=True)]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame({"t": np.full(len(self), self.t), "tag_id": self.tag_ids, "x": self.x, "y": self.y,
                             "z": self.z, "floor": self.floor, "accuracy_m": self.accuracy_m,
                             "confidence": self.confidence, "n_gateways": self.n_gateways,
                             "method": self.method})


@dataclass
class Prepared:
    """A window ready to solve: tags, their floors and padded (T, K) gateway rows/RSSI/mask."""

    tags: np.ndarray
    floor: np.ndarray
    gw: np.ndarray
    rssi: np.ndarray
    mask: np.ndarray
    problem: multilat.Problem


class Engine:
    def __init__(self, gateways: GatewayModel, config: EngineConfig | None = None,
                 radio_maps: dict | None = None):
        self.cfg = config or EngineConfig()
        self.gateways = gateways
        self.tags = TagIndex()
        self.buffer = SightingBuffer(len(gateways), keep_s=max(2.0 * self.cfg.window_s, 5.0))
        self.floors = FloorTracker(len(gateways.floors), tau_s=self.cfg.floor_tau_s, margin=self.cfg.floor_margin,
                                   windows=self.cfg.floor_windows, top_gateways=self.cfg.floor_top_gateways)
        self.tracker = Tracker(self.cfg)
        self.tag_offset = np.zeros(0)
        self.radio_maps: dict = {}
        self._bbox()
        if radio_maps:
            self.set_radio_maps(radio_maps)

    # --- configuration ---------------------------------------------------------------------------
    def _bbox(self) -> None:
        g = self.gateways
        F = len(g.floors)
        lo = np.zeros((F, 2))
        hi = np.zeros((F, 2))
        for f in range(F):
            xy = g.xyz[g.floor_idx == f, :2]
            lo[f] = xy.min(0) - self.cfg.bbox_margin_m
            hi[f] = xy.max(0) + self.cfg.bbox_margin_m
        self.floor_lo, self.floor_hi = lo, hi

    def set_gateway_params(self, ref_power=None, exponent=None) -> None:
        """Replace path-loss parameters (e.g. after ``OnlineCalibrator.apply``); positions keep, and
        maps predicted from the floor plan follow the new parameters."""
        self.gateways = self.gateways.with_params(ref_power=ref_power, exponent=exponent)
        for rm in self.radio_maps.values():
            if rm.wall_db is not None:
                refresh_plan_map(rm, self.gateways, self.cfg.tag_height_m)

    def set_radio_maps(self, maps: dict) -> None:
        """Radio maps keyed by floor label (see ``build_radio_maps``)."""
        self.radio_maps = {}
        labels = {f: i for i, f in enumerate(self.gateways.floors.tolist())}
        for label, rm in maps.items():
            if label in labels:
                f = labels[label]
                self.radio_maps[f] = rm
                self.floor_lo[f] = np.minimum(self.floor_lo[f], rm.cells.min(0))
                self.floor_hi[f] = np.maximum(self.floor_hi[f], rm.cells.max(0))

    # --- input -----------------------------------------------------------------------------------
    def ingest(self, t, gateway_idx, tag_ids, rssi) -> None:
        """Add sightings: time(s) in seconds, gateway rows (``GatewayModel.index_of``), tag ids, dBm."""
        gw = np.asarray(gateway_idx, dtype=np.int64).reshape(-1)
        if len(gw) == 0:
            return
        codes = self.tags.encode(np.asarray(tag_ids).reshape(-1) if np.ndim(tag_ids) else [tag_ids] * len(gw))
        self.buffer.add(t, gw, codes, rssi)

    def ingest_ids(self, t, gateway_ids, tag_ids, rssi) -> int:
        """Like ``ingest`` with gateway ids; unknown gateways are dropped. Returns rows kept."""
        gw = self.gateways.index_of(list(np.asarray(gateway_ids).reshape(-1)))
        self.ingest(t, gw, tag_ids, rssi)
        return int((gw >= 0).sum())

    def forget_tag(self, tag_id) -> None:
        c = self.tags.lookup(tag_id)
        if c is not None:
            self.tracker.reset([c])

    # --- solving ---------------------------------------------------------------------------------
    def prepare(self, now: float) -> Prepared | None:
        """Steps 1-3 of ``solve``: window aggregates, floors, padded per-tag gateway arrays."""
        cfg, g = self.cfg, self.gateways
        self.buffer.prune(now)
        agg = self.buffer.aggregate(now, cfg.window_s, cfg.trim_fraction)
        if len(agg) == 0:
            return None
        if len(self.tag_offset) < len(self.tags):
            self.tag_offset = np.r_[self.tag_offset, np.zeros(len(self.tags) - len(self.tag_offset) + 1024)]

        tags, row = np.unique(agg.tag, return_inverse=True)
        T = len(tags)
        gfl = g.floor_idx[agg.gw]
        if len(g.floors) > 1:
            votes = self.floors.votes(row, gfl, agg.rssi, T)
            floor, _ = self.floors.update(tags, now, votes)
        else:
            floor = np.zeros(T, dtype=np.int64)

        # strongest same-floor gateways per tag, padded to (T, K)
        on = gfl == floor[row]
        r_row, r_gw, r_rssi = row[on], agg.gw[on], agg.rssi[on]
        order = np.lexsort((-r_rssi, r_row))
        r_row, r_gw, r_rssi = r_row[order], r_gw[order], r_rssi[order]
        start = np.searchsorted(r_row, np.arange(T))
        rank = np.arange(len(r_row)) - start[r_row]
        K = int(min(cfg.max_gateways, max(1, rank.max() + 1 if len(rank) else 1)))
        keep = rank < K
        gwk = np.zeros((T, K), dtype=np.int64)
        rsk = np.zeros((T, K))
        mask = np.zeros((T, K), dtype=bool)
        gwk[r_row[keep], rank[keep]] = r_gw[keep]
        rsk[r_row[keep], rank[keep]] = r_rssi[keep]
        mask[r_row[keep], rank[keep]] = True
        has = mask.any(1)
        if not has.all():
            tags, floor, gwk, rsk, mask = tags[has], floor[has], gwk[has], rsk[has], mask[has]
        if len(tags) == 0:
            return None
        prob = multilat.Problem(
            gxy=g.xyz[gwk, :2], dz=g.xyz[gwk, 2] - cfg.tag_height_m, rssi=rsk, ref_power=g.ref_power[gwk],
            exponent=g.exponent[gwk], mask=mask, offset0=self.tag_offset[tags], lo=self.floor_lo[floor],
            hi=self.floor_hi[floor])
        return Prepared(tags=tags, floor=floor, gw=gwk, rssi=rsk, mask=mask, problem=prob)

    def solve(self, now: float) -> FixBatch:
        """Fixes for every tag heard in the last ``window_s`` seconds (tracked; see module doc)."""
        cfg, g = self.cfg, self.gateways
        prep = self.prepare(now)
        if prep is None:
            return FixBatch.empty(now)
        tags, floor, gwk, rsk, mask, prob = prep.tags, prep.floor, prep.gw, prep.rssi, prep.mask, prep.problem
        T = len(tags)
        offset0 = prob.offset0
        sol = multilat.solve(prob, cfg)
        z, R, method = sol.xy, sol.cov, sol.method.copy()

        # learn each tag's transmit-power offset slowly from well-determined fixes
        if cfg.estimate_tag_offset:
            learn = (method == multilat.METHOD_MULTILAT) & (sol.n_gateways >= 4)
            self.tag_offset[tags[learn]] += cfg.tag_offset_learning * (sol.offset[learn] - offset0[learn])

        room_probs = None
        for f, rm in self.radio_maps.items():
            sel = np.flatnonzero(floor == f)
            if len(sel) == 0:
                continue
            off = self.tag_offset[tags[sel]][:, None] if cfg.fp_apply_tag_offset else 0.0
            fxy, fcov, n_in, *probs = rm.locate(gwk[sel], rsk[sel] - off, mask[sel], sigma_db=cfg.fp_sigma_db,
                                                huber_k=cfg.fp_huber_k, center=z[sel], window_m=cfg.fp_window_m,
                                                rooms=True)
            use = (n_in >= cfg.fp_min_gateways) & np.isfinite(fxy).all(1)
            if probs:
                room_probs = np.full(T, None, dtype=object) if room_probs is None else room_probs
                room_probs[sel[use]] = _room_dicts(rm.room_keys, probs[0][use])
            sel, fxy, fcov = sel[use], fxy[use], fcov[use]
            if len(sel) == 0:
                continue
            zf, Rf, mf = fxy, fcov, np.full(len(sel), multilat.METHOD_FINGERPRINT)
            if cfg.fp_use_multilat:
                ml = method[sel] == multilat.METHOD_MULTILAT
                Rm = R[sel] * cfg.fp_multilat_cov_scale
                d = z[sel] - fxy
                Sd = Rm + fcov
                d2 = np.einsum("ti,tij,tj->t", d, np.linalg.inv(Sd), d)
                fuse = ml & (d2 <= cfg.fp_gate_sigma**2)
                if fuse.any():
                    Ia, Ib = np.linalg.inv(Rm[fuse]), np.linalg.inv(fcov[fuse])
                    Rc = np.linalg.inv(Ia + Ib)
                    zc = np.einsum("tij,tj->ti", Rc, np.einsum("tij,tj->ti", Ia, z[sel][fuse])
                                   + np.einsum("tij,tj->ti", Ib, fxy[fuse]))
                    zf[fuse], Rf[fuse], mf[fuse] = zc, Rc, multilat.METHOD_FUSED
            z[sel], R[sel], method[sel] = zf, Rf, mf

        xy, P, _ = self.tracker.update(tags, now, z, R, floor)
        n_gw = mask.sum(1)
        acc = np.maximum(cfg.accuracy_scale * np.sqrt(np.trace(P, axis1=1, axis2=2)), cfg.min_accuracy_m)
        gfac = np.select([n_gw >= 3, n_gw == 2], [1.0, 0.7], 0.4)
        conf = np.exp(-acc / cfg.confidence_scale_m) * gfac
        return FixBatch(t=float(now), tag_ids=self.tags.ids(tags), x=xy[:, 0], y=xy[:, 1],
                        z=np.full(T, cfg.tag_height_m), floor=g.floors[floor], accuracy_m=acc, confidence=conf,
                        n_gateways=n_gw, method=multilat.METHOD_NAMES[method], room_probs=room_probs)


def _room_dicts(keys: list, probs: np.ndarray, min_p: float = 0.005) -> list[dict]:
    """Per tag, the rooms with at least ``min_p`` probability (a handful near the tag)."""
    out = []
    for row in probs:
        idx = np.flatnonzero(row >= min_p)
        out.append({keys[i]: float(row[i]) for i in idx.tolist()})
    return out
