"""Which floor a tag is on: decaying per-floor evidence with hysteresis.

Every solve, each tag's strongest gateways vote for their floors with weights proportional to the
received power relative to the strongest (a gateway 10 dB weaker counts a tenth). Votes are
normalised to sum to one per solve and accumulated with exponential decay (time constant
``tau_s``). The tag changes floor only when another floor's share of the accumulated evidence
exceeds the current floor's share by ``margin`` for ``windows`` consecutive solves: one stray
packet through a stairwell does not move a tag, a real change of floor moves it within seconds.

State lives in arrays indexed by a dense tag number (see ``TagIndex`` to number arbitrary ids).
"""

from __future__ import annotations

import numpy as np


class FloorTracker:
    def __init__(self, n_floors: int, tau_s: float = 4.0, margin: float = 0.25, windows: int = 3,
                 top_gateways: int = 3):
        self.n_floors = int(n_floors)
        self.tau_s = float(tau_s)
        self.margin = float(margin)
        self.windows = int(windows)
        self.top_gateways = int(top_gateways)
        self.evidence = np.zeros((0, self.n_floors))
        self.current = np.zeros(0, dtype=np.int64)
        self.streak = np.zeros(0, dtype=np.int64)
        self.t = np.zeros(0)

    def _grow(self, n: int) -> None:
        old = len(self.current)
        if n <= old:
            return
        n = max(n, 2 * old, 64)
        self.evidence = np.concatenate([self.evidence, np.zeros((n - old, self.n_floors))])
        self.current = np.concatenate([self.current, np.full(n - old, -1, dtype=np.int64)])
        self.streak = np.concatenate([self.streak, np.zeros(n - old, dtype=np.int64)])
        self.t = np.concatenate([self.t, np.full(n - old, -np.inf)])

    def votes(self, tag_rows, floor_idx, rssi, n_tags: int) -> np.ndarray:
        """Per-solve evidence (n_tags, F) from readings: row ``tag_rows[i]`` heard on ``floor_idx[i]``.

        Only each tag's ``top_gateways`` strongest readings vote.
        """
        tag_rows = np.asarray(tag_rows, dtype=np.int64)
        rssi = np.asarray(rssi, float)
        out = np.zeros((n_tags, self.n_floors))
        if len(tag_rows) == 0:
            return out
        order = np.lexsort((-rssi, tag_rows))
        tr, fl, rs = tag_rows[order], np.asarray(floor_idx)[order], rssi[order]
        start = np.flatnonzero(np.r_[True, tr[1:] != tr[:-1]])
        n = np.diff(np.r_[start, len(tr)])
        grp = np.repeat(np.arange(len(start)), n)
        rank = np.arange(len(tr)) - start[grp]
        top = rank < self.top_gateways
        best = rs[start][grp]
        w = np.where(top, np.power(10.0, (rs - best) / 10.0), 0.0)
        np.add.at(out, (tr, fl), w)
        s = out.sum(1, keepdims=True)
        return np.divide(out, s, out=np.zeros_like(out), where=s > 0)

    def update(self, idx, t, votes) -> tuple[np.ndarray, np.ndarray]:
        """Add ``votes`` (T, F) for tags ``idx`` at time ``t``; returns (floor index, changed) per tag."""
        idx = np.asarray(idx, dtype=np.int64)
        T = len(idx)
        if T == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        self._grow(int(idx.max()) + 1)
        t = np.broadcast_to(np.asarray(t, float), (T,))
        dt = np.clip(t - self.t[idx], 0.0, None)
        decay = np.where(np.isfinite(dt), np.exp(-dt / self.tau_s), 0.0)
        E = self.evidence[idx] * decay[:, None] + votes
        cur = self.current[idx].copy()
        new = cur < 0
        lead = E.argmax(1)
        cur[new] = lead[new]
        share = E / np.maximum(E.sum(1, keepdims=True), 1e-12)
        rows = np.arange(T)
        leads = ~new & (lead != cur) & (share[rows, lead] - share[rows, cur] > self.margin)
        streak = np.where(leads, self.streak[idx] + 1, 0)
        switch = streak >= self.windows
        cur[switch] = lead[switch]
        streak[switch] = 0
        self.evidence[idx], self.current[idx], self.streak[idx], self.t[idx] = E, cur, streak, t
        return cur, switch

    def floor_of(self, idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        out = np.full(len(idx), -1, dtype=np.int64)
        ok = idx < len(self.current)
        out[ok] = self.current[idx[ok]]
        return out
