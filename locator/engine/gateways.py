"""Gateways as arrays, and the log-distance path-loss model that turns RSSI into range.

Model: ``rssi = ref_power - 10 * exponent * log10(d)`` with ``d`` the 3-D distance in metres
(clamped below at ``min_range``). ``ref_power`` is the RSSI at 1 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LN10 = np.log(10.0)


def rssi_to_distance(rssi, ref_power, exponent, min_range: float = 0.3):
    """3-D distance (m) that the model predicts for a given RSSI (dBm); element-wise."""
    d = np.power(10.0, (np.asarray(ref_power, float) - np.asarray(rssi, float)) / (10.0 * np.asarray(exponent)))
    return np.maximum(d, min_range)


def distance_to_rssi(distance, ref_power, exponent, min_range: float = 0.3):
    """RSSI (dBm) that the model predicts at a 3-D distance (m); element-wise."""
    d = np.maximum(np.asarray(distance, float), min_range)
    return np.asarray(ref_power, float) - 10.0 * np.asarray(exponent, float) * np.log10(d)


def horizontal_range(distance, dz):
    """Horizontal part of a 3-D range given the height difference (never below 0.1 m)."""
    d2 = np.asarray(distance, float) ** 2 - np.asarray(dz, float) ** 2
    return np.sqrt(np.maximum(d2, 0.01))


@dataclass
class GatewayModel:
    """Gateways of one site as parallel arrays; index ``i`` is the gateway's row.

    ``z`` is the gateway's height above its own floor. ``floor`` holds the caller's floor labels
    (any hashable: a Floor primary key, a level number...); ``floor_idx`` numbers them 0..F-1.
    """

    ids: np.ndarray  # object array of gateway ids (strings)
    xyz: np.ndarray  # (G, 3) float
    floor: np.ndarray  # (G,) object: floor labels
    ref_power: np.ndarray  # (G,) dBm at 1 m
    exponent: np.ndarray  # (G,)

    def __post_init__(self):
        self.ids = np.asarray(self.ids, dtype=object)
        self.xyz = np.asarray(self.xyz, dtype=float).reshape(-1, 3)
        n = len(self.ids)
        self.floor = np.asarray(self.floor, dtype=object).reshape(n)
        self.ref_power = np.broadcast_to(np.asarray(self.ref_power, float), (n,)).copy()
        self.exponent = np.broadcast_to(np.asarray(self.exponent, float), (n,)).copy()
        if self.xyz.shape[0] != n:
            raise ValueError("xyz must have one row per gateway")
        if len(set(self.ids.tolist())) != n:
            raise ValueError("gateway ids must be unique")
        self.floors, self.floor_idx = _factorize(self.floor)
        self._index = {g: i for i, g in enumerate(self.ids.tolist())}

    @classmethod
    def build(cls, ids, xyz, floor=None, ref_power=-59.0, exponent=2.5) -> GatewayModel:
        n = len(ids)
        return cls(ids=np.asarray(ids, dtype=object), xyz=xyz, floor=[0] * n if floor is None else floor,
                   ref_power=ref_power, exponent=exponent)

    @classmethod
    def from_dataframe(cls, df, ref_power=-59.0, exponent=2.5) -> GatewayModel:
        """From columns ``gateway_id,x,y,z[,floor][,ref_power][,exponent]`` (ids become strings)."""
        n = len(df)
        floor = df["floor"].to_numpy() if "floor" in df else np.zeros(n, dtype=int)
        rp = df["ref_power"].to_numpy(float) if "ref_power" in df else ref_power
        ex = df["exponent"].to_numpy(float) if "exponent" in df else exponent
        return cls(ids=df["gateway_id"].astype(str).to_numpy(dtype=object),
                   xyz=df[["x", "y", "z"]].to_numpy(float), floor=floor, ref_power=rp, exponent=ex)

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, ids) -> np.ndarray:
        """Row indices of gateway ids; -1 for unknown ids."""
        get = self._index.get
        return np.fromiter((get(g, -1) for g in ids), dtype=np.int64, count=len(ids))

    def copy(self) -> GatewayModel:
        return GatewayModel(ids=self.ids.copy(), xyz=self.xyz.copy(), floor=self.floor.copy(),
                            ref_power=self.ref_power.copy(), exponent=self.exponent.copy())

    def with_params(self, ref_power=None, exponent=None) -> GatewayModel:
        g = self.copy()
        if ref_power is not None:
            g.ref_power = np.broadcast_to(np.asarray(ref_power, float), (len(g),)).copy()
        if exponent is not None:
            g.exponent = np.broadcast_to(np.asarray(exponent, float), (len(g),)).copy()
        return g

    def predict_rssi(self, idx, xyz, min_range: float = 0.3):
        """Model RSSI at gateways ``idx`` for points ``xyz`` (same-floor heights), element-wise."""
        d = np.linalg.norm(self.xyz[idx] - np.asarray(xyz, float), axis=-1)
        return distance_to_rssi(d, self.ref_power[idx], self.exponent[idx], min_range)


def _factorize(values):
    """Unique labels in first-seen order and the index of each value."""
    labels: list = []
    pos: dict = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        if v not in pos:
            pos[v] = len(labels)
            labels.append(v)
        out[i] = pos[v]
    arr = np.empty(len(labels), dtype=object)
    arr[:] = labels
    return arr, out
