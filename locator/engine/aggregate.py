"""Buffer of raw sightings and their robust aggregation per (tag, gateway) over a time window.

Sightings are kept as flat numpy arrays (time, gateway row, tag number, RSSI). Tags are numbered
on first sight; the number is the tag's row in every per-tag state array of the engine. The
aggregate of a window is a trimmed mean of the dBm values, computed for all pairs at once with a
sort and ``bincount`` (no Python loop over tags).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class TagIndex:
    """Stable mapping of tag ids (any hashable) to dense integers 0..N-1."""

    def __init__(self):
        self._pos: dict = {}
        self._ids: list = []

    def __len__(self) -> int:
        return len(self._ids)

    def encode(self, tag_ids) -> np.ndarray:
        """Numbers for ``tag_ids``; unseen ids get new numbers. Loops only over distinct ids."""
        arr = np.asarray(tag_ids)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        inv, uniq = pd.factorize(arr.reshape(-1))  # hashing: much faster than sorting strings
        pos = self._pos
        codes = np.empty(len(uniq), dtype=np.int64)
        for i, u in enumerate(uniq.tolist()):
            c = pos.get(u)
            if c is None:
                c = pos[u] = len(self._ids)
                self._ids.append(u)
            codes[i] = c
        return codes[inv.reshape(-1)]

    def lookup(self, tag_id) -> int | None:
        return self._pos.get(tag_id)

    def ids(self, codes) -> np.ndarray:
        out = np.empty(len(codes), dtype=object)
        ids = self._ids
        for i, c in enumerate(np.asarray(codes).tolist()):
            out[i] = ids[c]
        return out


@dataclass
class Aggregate:
    """One row per (tag, gateway) pair heard in the window."""

    tag: np.ndarray  # tag numbers
    gw: np.ndarray  # gateway rows
    rssi: np.ndarray  # trimmed mean, dBm
    count: np.ndarray  # readings in the window
    last_t: np.ndarray  # newest reading's time

    def __len__(self) -> int:
        return len(self.tag)


class SightingBuffer:
    """Append-only store of sightings, pruned to the newest ``keep_s`` seconds."""

    def __init__(self, n_gateways: int, keep_s: float = 10.0):
        self.n_gateways = int(n_gateways)
        self.keep_s = float(keep_s)
        self._t = np.empty(0)
        self._g = np.empty(0, dtype=np.int64)
        self._k = np.empty(0, dtype=np.int64)
        self._r = np.empty(0)
        self._pending: list[tuple] = []

    def __len__(self) -> int:
        self._flush()
        return len(self._t)

    def add(self, t, gw, tag, rssi) -> None:
        gw = np.asarray(gw, dtype=np.int64).reshape(-1)
        n = len(gw)
        t = np.broadcast_to(np.asarray(t, float), (n,)).astype(float)
        tag = np.broadcast_to(np.asarray(tag, dtype=np.int64), (n,))
        rssi = np.broadcast_to(np.asarray(rssi, float), (n,)).astype(float)
        ok = (gw >= 0) & (gw < self.n_gateways) & np.isfinite(rssi) & np.isfinite(t)
        if not ok.all():
            t, gw, tag, rssi = t[ok], gw[ok], tag[ok], rssi[ok]
        if len(t):
            self._pending.append((t, gw, np.array(tag), rssi))

    def _flush(self) -> None:
        if self._pending:
            parts = list(zip(*self._pending, strict=True))
            self._pending = []
            self._t = np.concatenate([self._t, *parts[0]])
            self._g = np.concatenate([self._g, *parts[1]])
            self._k = np.concatenate([self._k, *parts[2]])
            self._r = np.concatenate([self._r, *parts[3]])

    def prune(self, now: float) -> None:
        self._flush()
        keep = self._t > now - self.keep_s
        if not keep.all():
            self._t, self._g, self._k, self._r = self._t[keep], self._g[keep], self._k[keep], self._r[keep]

    def aggregate(self, now: float, window_s: float, trim_fraction: float = 0.2) -> Aggregate:
        """Trimmed mean of each pair's RSSI over ``(now - window_s, now]``."""
        self._flush()
        m = (self._t > now - window_s) & (self._t <= now)
        return aggregate_arrays(self._t[m], self._g[m], self._k[m], self._r[m], self.n_gateways, trim_fraction)


def aggregate_arrays(t, gw, tag, rssi, n_gateways: int, trim_fraction: float = 0.2) -> Aggregate:
    """Trimmed mean per (tag, gateway): sort by pair then RSSI, drop ranks at both ends, bincount."""
    if len(t) == 0:
        e = np.empty(0, dtype=np.int64)
        return Aggregate(e, e.copy(), np.empty(0), e.copy(), np.empty(0))
    key = tag.astype(np.int64) * n_gateways + gw
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    start = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]])
    n = np.diff(np.r_[start, len(key_s)])
    grp = np.repeat(np.arange(len(start)), n)
    cut = np.minimum(np.floor(trim_fraction * n).astype(np.int64), (n - 1) // 2)
    if cut.any():  # order by RSSI inside the pairs that get trimmed (pairs with >= 1/trim readings)
        order = np.lexsort((rssi, key))
    r_s, t_s = rssi[order], t[order]
    rank = np.arange(len(key_s)) - start[grp]
    keep = (rank >= cut[grp]) & (rank < (n - cut)[grp])
    s = np.bincount(grp[keep], weights=r_s[keep], minlength=len(start))
    c = np.bincount(grp[keep], minlength=len(start))
    last = np.maximum.reduceat(t_s, start)
    k = key_s[start]
    return Aggregate(tag=k // n_gateways, gw=k % n_gateways, rssi=s / c, count=n, last_t=last)
