"""The bounded on-disk queue of encoded batches, so a broker outage of minutes (or a restart of the agent
or of the box) loses nothing.

One SQLite file in the state directory (WAL journal, ``synchronous=FULL``: a batch that ``put`` returned
for survives a power cut). Each row is a batch exactly as it will be published (encoded once, so it
keeps its boot id and seq and the server's loss accounting stays exact). Rows leave the queue only when
the broker acknowledged them (PUBACK), in insertion order.

Bounds: ``max_batches`` rows and ``max_bytes`` of payload. A ``put`` that goes over either bound
deletes the batches kept for resends (below), then the OLDEST queued rows first (the newest data is worth most to a live map) and adds them to
``dropped``, a counter kept in the same file so it survives restarts. Rows the publisher has handed to
the MQTT client and is waiting to see acknowledged can be passed as ``keep``: they are not dropped
(they may well arrive), so the bound can be exceeded by at most that many rows.

Retention for resends. An acknowledged batch is not deleted at once: it is kept (``acked`` set to the
time of the PUBACK) for ``retain_s`` seconds and within ``retain_max_bytes``, so that when the server
finds a sequence gap (the broker accepted a batch and then lost it, e.g. a restart before ingest had
resubscribed) it can ask for it again (protocol §7a) and ``held`` finds it. Kept batches are not
counted as queued, and they give way first whenever the bounds above need room (they were delivered;
nothing is counted as dropped for them). Off unless both bounds are set (the agent sets them).

Thread-safe: the agent puts from its event loop, the publisher reads and removes from its own thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused, so they give the order
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# Added with resends (files of older agents are upgraded in place): NULL while waiting to be delivered,
# else the unix time of the broker's acknowledgement.
_RETENTION = """
CREATE INDEX IF NOT EXISTS batch_boot_seq ON batch (boot, seq);
CREATE INDEX IF NOT EXISTS batch_acked ON batch (acked) WHERE acked IS NOT NULL;
"""


class QueuedBatch(NamedTuple):
    id: int
    boot: str
    seq: int
    payload: bytes
    acked: float | None = None  # when the broker acknowledged it (kept for resends), None while queued


class DiskQueue:
    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_batches: int = 100_000,
        retain_s: float = 0.0,
        retain_max_bytes: int = 0,
        clock=time.time,
    ):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_batches = max_batches
        self.retain_s = retain_s
        self.retain_max_bytes = retain_max_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open()
        sums = "SELECT count(*), coalesce(sum(length(payload)), 0) FROM batch WHERE acked IS "
        row = self._db.execute(sums + "NULL").fetchone()
        self._count, self._bytes = int(row[0]), int(row[1])
        row = self._db.execute(sums + "NOT NULL").fetchone()
        self._kept, self._kept_bytes = int(row[0]), int(row[1])
        found = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        self._dropped = int(found[0]) if found else 0
        if self._count:
            log.info(
                "queue %s holds %d batches (%d bytes) from before the restart", self.path, *self.stats()[:2]
            )

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            # A corrupt file (SD cards do this) must not keep the gateway down: keep it for forensics
            # and start afresh. What it held is lost, and we say so.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error(
                "queue file %s is unreadable (%s); moved to %s, starting with an empty queue",
                self.path,
                e,
                aside,
            )
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            db.executescript(_SCHEMA)
            if "acked" not in {r[1] for r in db.execute("PRAGMA table_info(batch)")}:
                db.execute("ALTER TABLE batch ADD COLUMN acked REAL")
            db.executescript(_RETENTION)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # ------------------------------------------------------------------------------------------ writes

    def put(self, boot: str, seq: int, payload: bytes, *, keep: Collection[int] = ()) -> int:
        """Append one encoded batch; returns how many old batches were dropped to stay in bounds."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                new_id = db.execute(
                    "INSERT INTO batch (boot, seq, payload) VALUES (?, ?, ?)", (boot, seq, payload)
                ).lastrowid
                count, size = self._count + 1, self._bytes + len(payload)
                kept, kept_bytes = self._kept, self._kept_bytes
                dropped: list[tuple[int, int]] = []
                if kept and (count + kept > self.max_batches or size + kept_bytes > self.max_bytes):
                    # batches kept only for resends give way first (they were delivered)
                    freed = []
                    cursor = db.execute("SELECT id, length(payload) FROM batch WHERE acked IS NOT NULL ORDER BY id")
                    for row_id, length in cursor:
                        if count + kept <= self.max_batches and size + kept_bytes <= self.max_bytes:
                            break
                        if row_id in keep:
                            continue
                        freed.append((row_id,))
                        kept -= 1
                        kept_bytes -= length
                    cursor.close()
                    db.executemany("DELETE FROM batch WHERE id = ?", freed)
                if count > self.max_batches or size > self.max_bytes:
                    cursor = db.execute("SELECT id, length(payload) FROM batch WHERE acked IS NULL ORDER BY id")
                    for row_id, length in cursor:
                        if count <= self.max_batches and size <= self.max_bytes:
                            break
                        if row_id == new_id:  # never drop the batch just added
                            break
                        if row_id in keep:
                            continue
                        dropped.append((row_id, length))
                        count -= 1
                        size -= length
                    cursor.close()
                    db.executemany("DELETE FROM batch WHERE id = ?", [(r,) for r, _ in dropped])
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (self._dropped + len(dropped),),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count, self._bytes = count, size
            self._kept, self._kept_bytes = kept, kept_bytes
            self._dropped += len(dropped)
            if dropped:
                log.warning(
                    "queue full (%d batches, %d bytes): dropped the %d oldest batch(es), %d in total",
                    count,
                    size,
                    len(dropped),
                    self._dropped,
                )
            return len(dropped)

    def count_lost(self, n: int = 1) -> None:
        """Count batches that never made it into the queue (e.g. the disk was full) as dropped."""
        with self._lock:
            self._dropped += n
            try:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (self._dropped,),
                )
            except sqlite3.Error:
                log.exception("could not record the drop count")

    def remove(self, ids: Iterable[int]) -> int:
        """Delete batches for good (refused by the broker: a resend would be refused too)."""
        ids = list(ids)
        if not ids:
            return 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                for row_id in ids:
                    row = db.execute("SELECT length(payload), acked FROM batch WHERE id = ?", (row_id,)).fetchone()
                    if row is not None:
                        db.execute("DELETE FROM batch WHERE id = ?", (row_id,))
                        removed += 1
                        if row[1] is None:
                            self._count -= 1
                            self._bytes -= int(row[0])
                        else:
                            self._kept -= 1
                            self._kept_bytes -= int(row[0])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return removed

    def acknowledge(self, ids: Iterable[int]) -> int:
        """The broker acknowledged these batches: keep them for resends (within the retention bounds) or
        delete them (retention off). One transaction, one disk flush for many acks."""
        ids = list(ids)
        if not ids:
            return 0
        if not self.retaining:
            return self.remove(ids)
        now = self.clock()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                done = 0
                for row_id in ids:  # no RETURNING: gateways may run SQLite older than 3.35 (Bullseye: 3.34)
                    row = db.execute(
                        "SELECT length(payload) FROM batch WHERE id = ? AND acked IS NULL", (row_id,)
                    ).fetchone()
                    if row is not None:
                        db.execute("UPDATE batch SET acked = ? WHERE id = ?", (now, row_id))
                        done += 1
                        self._count -= 1
                        self._bytes -= int(row[0])
                        self._kept += 1
                        self._kept_bytes += int(row[0])
                self._prune_locked(now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._recount_locked()
                raise
            return done

    @property
    def retaining(self) -> bool:
        return self.retain_s > 0 and self.retain_max_bytes > 0

    def _prune_locked(self, now: float) -> None:
        """Forget kept batches older than ``retain_s``, then the oldest beyond ``retain_max_bytes``."""
        db = self._db
        cutoff = now - self.retain_s
        count, size = db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM batch WHERE acked < ?", (cutoff,)
        ).fetchone()
        if count:
            db.execute("DELETE FROM batch WHERE acked < ?", (cutoff,))
            self._kept -= int(count)
            self._kept_bytes -= int(size)
        if self._kept_bytes > self.retain_max_bytes:
            doomed = []
            over = self._kept_bytes - self.retain_max_bytes
            for row_id, length in db.execute(
                "SELECT id, length(payload) FROM batch WHERE acked IS NOT NULL ORDER BY acked, id"
            ):
                if over <= 0:
                    break
                doomed.append((row_id,))
                over -= length
                self._kept -= 1
                self._kept_bytes -= int(length)
            db.executemany("DELETE FROM batch WHERE id = ?", doomed)

    def _recount_locked(self) -> None:
        sums = "SELECT count(*), coalesce(sum(length(payload)), 0) FROM batch WHERE acked IS "
        self._count, self._bytes = map(int, self._db.execute(sums + "NULL").fetchone())
        self._kept, self._kept_bytes = map(int, self._db.execute(sums + "NOT NULL").fetchone())

    def prune(self) -> None:
        """Apply the retention bounds now (the publisher calls this now and then when idle)."""
        if self._kept == 0:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                self._prune_locked(self.clock())
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._recount_locked()
                raise

    # ------------------------------------------------------------------------------------------- reads

    def peek(self, after_id: int = 0, limit: int = 1) -> list[QueuedBatch]:
        """The oldest batches waiting for delivery with an id greater than ``after_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, boot, seq, payload FROM batch WHERE id > ? AND acked IS NULL ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [QueuedBatch(int(r[0]), r[1], int(r[2]), bytes(r[3])) for r in rows]

    def has_after(self, after_id: int) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM batch WHERE id > ? AND acked IS NULL LIMIT 1", (after_id,)).fetchone()
                is not None
            )

    def held(self, boot: str, first: int, last: int) -> list[QueuedBatch]:
        """Batches of ``boot`` with seq first..last still on disk (delivered and kept, or still queued),
        in seq order. Kept batches past ``retain_s`` are not returned (nor kept)."""
        cutoff = self.clock() - self.retain_s
        with self._lock:
            rows = self._db.execute(
                "SELECT id, boot, seq, payload, acked FROM batch WHERE boot = ? AND seq BETWEEN ? AND ? "
                "AND (acked IS NULL OR acked >= ?) ORDER BY seq, id",
                (boot, first, last, cutoff),
            ).fetchall()
        return [QueuedBatch(int(r[0]), r[1], int(r[2]), bytes(r[3]), r[4]) for r in rows]

    def knows_boot(self, boot: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM batch WHERE boot = ? LIMIT 1", (boot,)).fetchone() is not None

    def stats(self) -> tuple[int, int, int]:
        """(batches queued, payload bytes queued, batches dropped since the state dir was created)."""
        with self._lock:
            return self._count, self._bytes, self._dropped

    def kept(self) -> tuple[int, int]:
        """(delivered batches kept for resends, their payload bytes)."""
        with self._lock:
            return self._kept, self._kept_bytes

    def __len__(self) -> int:
        return self._count

    @property
    def dropped(self) -> int:
        return self._dropped

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._db.close()
