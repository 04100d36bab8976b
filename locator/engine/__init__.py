"""BLE positioning engine: pure numpy/scipy/shapely, no Django (see docs/positioning.md).

Live use::

    gw = GatewayModel.from_dataframe(gateways_df)          # gateway_id, x, y, z, floor
    engine = Engine(gw, EngineConfig())
    engine.ingest(t, gw.index_of(gateway_ids), tag_ids, rssi)
    fixes = engine.solve(now)                               # FixBatch of arrays

Replay of CSV files (what ``manage.py locate_replay`` wraps): ``replay.replay``.
"""

from .aggregate import SightingBuffer, TagIndex
from .calibration import (
    CalibrationProposal,
    GatewayFit,
    OnlineCalibrator,
    Survey,
    build_radio_maps,
    fit_path_loss,
    fit_survey,
)
from .config import EngineConfig
from .engine import Engine, FixBatch
from .fingerprint import RadioMap
from .floors import FloorTracker
from .gateways import GatewayModel, distance_to_rssi, rssi_to_distance
from .rooms import RoomChange, RoomTracker, ZoneEvent, ZoneTracker
from .tracking import Tracker
from .walls import plan_radio_map, plan_radio_maps

__all__ = [
    "CalibrationProposal",
    "Engine",
    "EngineConfig",
    "FixBatch",
    "FloorTracker",
    "GatewayFit",
    "GatewayModel",
    "OnlineCalibrator",
    "RadioMap",
    "RoomChange",
    "RoomTracker",
    "SightingBuffer",
    "Survey",
    "TagIndex",
    "Tracker",
    "ZoneEvent",
    "ZoneTracker",
    "build_radio_maps",
    "distance_to_rssi",
    "fit_path_loss",
    "fit_survey",
    "plan_radio_map",
    "plan_radio_maps",
    "rssi_to_distance",
]
