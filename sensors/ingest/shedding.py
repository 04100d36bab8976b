"""Load shedding: when ingest falls behind, it gives up tag sightings, never readings or alarms.

Under overload something must give. Sensor readings feed alarms (a vaccine fridge warming up) and
compliance records, so they are never shed; positions are refreshed every second and tolerate a
coarser refresh for a while. The signal is lag: the median age of a chunk's batches (``now - sent``,
gateway clocks; the median keeps one gateway with a wrong clock from deciding) or, when larger, how
long the chunk's oldest message waited in ingest's own inbox. With hysteresis:

- lag >= ``enter_lag_s`` for ``enter_hold_s`` and not falling: one level more;
- lag <= ``exit_lag_s`` for ``exit_hold_s``: one level less; at level 0 shedding is off.

At level n a tag's advertisements are kept in one second out of 2**n (the phase depends on the
address), so a kept tag keeps all its gateways for that second and still gets a full fix, and every
tag is placed at least every 2**n seconds. While shedding, batches older than ``stale_s`` lose all their tag
sightings: they say where tags were a while ago, and catching up to the present matters more. Shed
advertisements are skipped before they are decoded, which is where the time goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShedConfig:
    enter_lag_s: float = 3.0
    enter_hold_s: float = 2.0
    exit_lag_s: float = 1.5
    exit_hold_s: float = 10.0
    max_level: int = 4  # keep 1 tag sighting in 16 at most
    stale_s: float = 5.0  # tag sightings older than this are shed whole while shedding
    idle_after_s: float = 1.0  # no chunk for this long counts as "no lag"

    def __post_init__(self):
        if not 0 <= self.exit_lag_s < self.enter_lag_s:
            raise ValueError(f"exit_lag_s ({self.exit_lag_s}) must be >= 0 and below enter_lag_s "
                             f"({self.enter_lag_s}), or shedding would flap")
        if self.max_level < 1:
            raise ValueError(f"max_level must be at least 1, got {self.max_level}")


class LoadShedder:
    """Decides how much of the tag traffic to keep; counts what it shed. One per ingest process."""

    def __init__(self, config: ShedConfig | None = None, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.config = config or ShedConfig()
        self.clock, self.wall = clock, wall
        self.level = 0
        self.mask = 0  # (1 << level) - 1: keep an advertisement when (hash(address) + second) & mask == 0
        self.lag_s = 0.0
        self.peak_lag_s = 0.0  # of the current (or last) episode
        self.since: float | None = None  # wall time the current episode started
        self.shed_total = 0  # since this process started
        self.shed_episode = 0  # in the current (or last) episode
        self.episodes = 0
        self.version = 0  # bumped on every level change (status reporting watches it)
        self._over_since: float | None = None
        self._over_lag = 0.0
        self._calm_since: float | None = None
        self._last_observed = clock()

    @property
    def shedding(self) -> bool:
        return self.level > 0

    @property
    def keep_one_in(self) -> int:
        return 1 << self.level

    # ------------------------------------------------------------------------------ decisions
    def advertisement_filter(self, sensors: Container[str]) -> Callable[[str, float], bool] | None:
        """For ``decode_batch(keep=...)``: None when not shedding; else registered sensors always, and a
        tag in one second out of 2**level, phased by its address."""
        mask = self.mask
        if not mask:
            return None
        return lambda address, t: address in sensors or not (hash(address) + int(t)) & mask

    def stale_before(self, now: float) -> float | None:
        """While shedding, batches sent before this lose their tag sightings (None: not shedding)."""
        return now - self.config.stale_s if self.level > 0 else None

    def count_shed(self, n: int) -> None:
        self.shed_total += n
        self.shed_episode += n

    # ------------------------------------------------------------------------------ the signal
    def observe(self, lag_s: float) -> None:
        """Feed the lag of the chunk just taken; may change the level (logged)."""
        cfg, now = self.config, self.clock()
        self._last_observed = now
        self.lag_s = lag_s = max(0.0, float(lag_s))
        if self.level:
            self.peak_lag_s = max(self.peak_lag_s, lag_s)
        if lag_s >= cfg.enter_lag_s:
            self._calm_since = None
            if self._over_since is None:
                self._over_since, self._over_lag = now, lag_s
            elif now - self._over_since >= cfg.enter_hold_s:
                # Falling lag means the current level catches up: wait instead of shedding more.
                if lag_s >= self._over_lag and self.level < cfg.max_level:
                    self._set_level(self.level + 1)
                self._over_since, self._over_lag = now, lag_s
        elif lag_s <= cfg.exit_lag_s:
            self._over_since = None
            if self.level:
                if self._calm_since is None:
                    self._calm_since = now
                elif now - self._calm_since >= cfg.exit_hold_s:
                    self._set_level(self.level - 1)
                    self._calm_since = now
        else:
            self._over_since = self._calm_since = None

    def busy_until_now(self) -> None:
        """A chunk was just processed: the time it took is not idle time."""
        self._last_observed = self.clock()

    def observe_idle(self) -> None:
        """Called periodically: no chunk for a while means nothing is waiting (lag 0)."""
        if self.clock() - self._last_observed >= self.config.idle_after_s:
            self.observe(0.0)

    def _set_level(self, level: int) -> None:
        before, self.level = self.level, level
        self.mask = (1 << level) - 1
        self.version += 1
        keep = self.keep_one_in
        if before == 0:
            self.since, self.shed_episode, self.peak_lag_s = self.wall(), 0, self.lag_s
            self.episodes += 1
            log.warning("ingest is falling behind (lag %.1f s for %.0f s or more): shedding load, keeping 1 in %d "
                        "tag sightings; sensor readings and alarms are never shed",
                        self.lag_s, self.config.enter_hold_s, keep)
        elif level == 0:
            log.warning("ingest keeps up again (lag %.1f s): stopped shedding load after %.0f s; %d tag sightings "
                        "shed, peak lag %.1f s", self.lag_s, self.wall() - (self.since or self.wall()),
                        self.shed_episode, self.peak_lag_s)
            self.since = None
        elif level > before:
            log.warning("ingest still behind (lag %.1f s): shedding more, keeping 1 in %d tag sightings",
                        self.lag_s, keep)
        else:
            log.info("ingest catching up (lag %.1f s): keeping 1 in %d tag sightings", self.lag_s, keep)

    def describe(self) -> str:
        if not self.level:
            return f"keeping up (lag {self.lag_s:.1f} s)"
        return (f"shedding load: keeping 1 in {self.keep_one_in} tag sightings, lag {self.lag_s:.1f} s "
                f"(peak {self.peak_lag_s:.1f} s), {self.shed_episode} sightings shed; readings and alarms "
                "are not shed")


def chunk_lag(now: float, received: Iterable[float], sent: Iterable[float]) -> float:
    """Lag of a chunk: the median age of its batches or, if larger, the oldest message's wait in the inbox."""
    ages = sorted(now - s for s in sent)
    batch_lag = ages[len(ages) // 2] if ages else 0.0
    waited = now - min(received, default=now)
    return max(0.0, batch_lag, waited)


def throttled(fn: Callable[[], object], shedder: LoadShedder, every_s: float) -> Callable[[], object]:
    """``fn`` that runs at most every ``every_s`` seconds while shedding (every call otherwise).

    For the locator's tick: fewer solves while shedding. Keep ``every_s`` within the locator's window
    (2 s) so that every kept sighting still falls in some solve.
    """
    last = [0.0]

    def run():
        now = time.monotonic()
        if shedder.shedding and now - last[0] < every_s:
            return None
        last[0] = now
        return fn()

    run.__name__ = getattr(fn, "__name__", "throttled")
    return run
