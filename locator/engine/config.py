"""Engine settings: one frozen dataclass with every tunable number and why it has its value.

Defaults are meant for a building nobody has surveyed: generic log-distance radio model, robust
weights, a per-tag transmit-power offset learnt online, walking-speed tracking. They were chosen on
physical grounds and checked on the Kolakowski calibration walk (never on its test runs); see
docs/positioning.md for the measured effect of each.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class EngineConfig:
    # --- aggregation of sightings -------------------------------------------------------------
    window_s: float = 2.0  # RSSI of one tag at one gateway is aggregated over this trailing window
    trim_fraction: float = 0.2  # trimmed mean: drop this fraction at each end (0.5 ~ median)
    max_gateways: int = 8  # strongest gateways used per tag and fix

    # --- radio model defaults (per gateway values live in GatewayModel) ------------------------
    default_ref_power_dbm: float = -59.0  # RSSI at 1 m of a typical 0 dBm BLE tag
    default_exponent: float = 2.5  # indoor, furnished, line of sight mostly blocked
    tag_height_m: float = 1.2  # assumed tag height above its floor (equipment, carts, beds)
    min_range_m: float = 0.3  # ranges are never taken below this

    # --- multilateration -----------------------------------------------------------------------
    sigma_db: float = 5.0  # RSSI noise of one aggregated reading, strong signal
    weak_dbm: float = -75.0  # below this a reading is less trustworthy ...
    weak_scale_db: float = 15.0  # ... its sigma grows by sigma_db per weak_scale_db below weak_dbm
    robust_loss: str = "cauchy"  # "cauchy" (redescending: rejects gross outliers harder) or "huber"
    huber_k: float = 1.0  # scale (Cauchy) or threshold (Huber), in sigmas, for the IRLS weights
    iterations: int = 8  # Levenberg-Marquardt iterations (vectorised; converged after ~5 from the centroid)
    prior_sigma_m: float = 5.0  # pull towards the 1/range^2-weighted centroid, about half a gateway spacing:
    # the centroid is robust to range bias, multilateration refines it (see docs/positioning.md)
    estimate_tag_offset: bool = True  # solve a per-tag transmit-power offset as a third unknown
    tag_offset_sigma_db: float = 8.0  # prior spread of that offset around the tag's learnt value
    tag_offset_learning: float = 0.05  # per-fix learning rate of a tag's offset (online learning)
    bbox_margin_m: float = 3.0  # fixes are kept within the floor's gateways' box plus this margin

    # --- fingerprinting (only where a survey radio map exists) -----------------------------------
    fp_resolution_m: float = 0.2  # radio-map grid
    fp_bandwidth_m: float = 0.3  # Gaussian kernel that spreads each survey reading over the grid
    fp_model_weight: float = 0.3  # pseudo-count of the path-loss model in each cell (thin survey)
    fp_sigma_db: float = 4.5  # mismatch between a windowed reading and the map, per gateway
    fp_huber_k: float = 1.5
    fp_use_multilat: bool = True  # fuse multilateration with the map by inverse covariance
    fp_multilat_cov_scale: float = 4.0  # multilateration's covariance is optimistic next to a map
    fp_apply_tag_offset: bool = False  # subtract the learnt tag power offset before matching the map
    fp_gate_sigma: float = 4.0  # multilateration further than this (Mahalanobis) from the map: ignore it
    fp_min_gateways: int = 3  # the map is used when at least this many heard gateways are in it
    fp_window_m: float = 8.0  # on large maps only cells this close to the multilateration fix are scored

    # --- floor-plan radio map (rooms drawn, no survey: see walls.py) ----------------------------
    wall_loss_db: float = 3.5  # per interior wall on the line to a gateway (COST 231 multi-wall: light wall 3.4 dB)
    plan_map_resolution_m: float = 0.5  # grid of the predicted map (rooms are 3 m wide and more)

    # --- tracking -------------------------------------------------------------------------------
    max_speed_mps: float = 2.0  # walking speed limit; also clamps the track's velocity
    jump_slack_m: float = 0.5  # displacement allowed on top of max_speed * dt
    accel_psd: float = 0.3  # process noise of the constant-velocity model, m^2/s^3
    meas_cov_scale: float = 1.0  # measurement covariance scale (windows overlap: fixes correlate)
    gate_sigma: float = 3.5  # innovations beyond this (Mahalanobis) get their covariance inflated
    track_timeout_s: float = 15.0  # a track older than this restarts from the next measurement
    min_accuracy_m: float = 0.5

    # --- reporting ------------------------------------------------------------------------------
    accuracy_scale: float = 0.95  # radius = scale * sqrt(trace(cov)); ~75 % coverage on the calibration walk
    confidence_scale_m: float = 4.0  # confidence = exp(-accuracy / this) * gateway-count factor

    # --- floors ---------------------------------------------------------------------------------
    floor_tau_s: float = 4.0  # exponential decay time of per-floor evidence
    floor_margin: float = 0.25  # another floor's share of the evidence must lead by this much ...
    floor_windows: int = 3  # ... for this many consecutive solves before the tag changes floor
    floor_top_gateways: int = 3  # evidence comes from this many strongest gateways

    # --- online calibration bounds --------------------------------------------------------------
    ref_power_bounds: tuple[float, float] = (-80.0, -35.0)
    exponent_bounds: tuple[float, float] = (1.5, 4.5)

    def with_(self, **changes) -> EngineConfig:
        """A copy with some values changed (unknown names raise TypeError)."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
