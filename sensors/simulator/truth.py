"""Ground truth: what the simulator really did, written next to what it published, so positioning accuracy
and alarm behaviour can be measured afterwards.

Files (CSV with a header; ``t`` is simulated unix time in seconds, the clock of the advertisements):

- ``positions.csv``  ``t,tag_id,x,y,z,floor,room``: every tag once at the start, then each moving tag
  at every advertisement it sends (about 1 Hz) and at the start and end of each trip. Between two rows
  of a tag it was standing still or walking straight. ``z`` is metres above its floor, ``floor`` the level.
- ``environment.csv``  ``t,sensor_id,quantity,true_value,sent_value``: every sensor advertisement, with
  the physical value and the value put in the advertisement (true value plus sensor noise, before the
  format's rounding).
- ``events.csv``  ``t,kind,subject,detail``: scenario starts and ends, trips (start/end), door openings
  and closings, defrost cycles, gateway outages.
- ``run.json``: seed, start time, speed, scenarios and model parameters.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


class TruthWriter:
    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files = {}
        self._writers = {}
        for name, header in (
            ("positions", ("t", "tag_id", "x", "y", "z", "floor", "room")),
            ("environment", ("t", "sensor_id", "quantity", "true_value", "sent_value")),
            ("events", ("t", "kind", "subject", "detail")),
        ):
            f = open(self.dir / f"{name}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
            w = csv.writer(f)
            w.writerow(header)
            self._files[name] = f
            self._writers[name] = w

    def run_info(self, info: dict) -> None:
        with open(self.dir / "run.json", "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True, default=str)

    def position(self, t: float, tag_id: str, x: float, y: float, z: float, floor: int, room: str) -> None:
        self._writers["positions"].writerow(
            (f"{t:.3f}", tag_id, f"{x:.2f}", f"{y:.2f}", f"{z:.2f}", floor, room)
        )

    def environment(self, t: float, sensor_id: str, truth: dict[str, float], sent: dict[str, float]) -> None:
        w = self._writers["environment"]
        for q, v in truth.items():
            w.writerow((f"{t:.3f}", sensor_id, q, f"{v:.4f}", f"{sent.get(q, v):.4f}"))

    def event(self, t: float, kind: str, subject: str, detail: str = "") -> None:
        self._writers["events"].writerow((f"{t:.3f}", kind, subject, detail))

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
