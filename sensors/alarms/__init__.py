"""Environmental monitoring core: profiles, the ISA-18.2 alarm state machine, the offline watchdog,
flood detection, mean kinetic temperature and replay. Pure Python (numpy for MKT): never imports
Django, so ingest, workers, tests and command-line tools share exactly the same code.
"""

from .events import ACTIVE_STATES, AlarmState, Event, Priority
from .flood import FloodChange, FloodDetector
from .mkt import MKTAccumulator, mean_kinetic_temperature, mkt, rolling_mkt, time_weighted_mean
from .profiles import (
    LimitRule,
    Profile,
    ProfileCatalog,
    ProfileError,
    default_catalog,
    load_profiles,
    parse_profiles,
)
from .statemachine import Evaluator
from .watchdog import Watchdog, missed_intervals

__all__ = [
    "ACTIVE_STATES", "AlarmState", "Event", "Priority", "FloodChange", "FloodDetector", "MKTAccumulator",
    "mean_kinetic_temperature", "mkt", "rolling_mkt", "time_weighted_mean", "LimitRule", "Profile",
    "ProfileCatalog", "ProfileError", "default_catalog", "load_profiles", "parse_profiles", "Evaluator",
    "Watchdog", "missed_intervals",
]
