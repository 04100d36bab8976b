"""The bounded on-disk queue of encoded batches, so a broker outage of minutes (or a restart of the agent
or of the box) loses nothing.

One SQLite file in the state directory (WAL journal, ``synchronous=FULL``: a batch that ``put`` returned
for survives a power cut). Each row is a batch exactly as it will be published (encoded once, so it
keeps its boot id and seq and the server's loss accounting stays exact). Rows leave the queue only when
the broker acknowledged them (PUBACK), in insertion order.

Bounds: ``max_batches`` rows and ``max_bytes`` of payload. A ``put`` that goes over either bound
deletes the OLDEST rows first (the newest data is worth most to a live map) and adds them to
``dropped``, a counter kept in the same file so it survives restarts. Rows the publisher has handed to
the MQTT client and is waiting to see acknowledged can be passed as ``keep``: they are not dropped
(they may well arrive), so the bound can be exceeded by at most that many rows.

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


class QueuedBatch(NamedTuple):
    id: int
    boot: str
    seq: int
    payload: bytes


class DiskQueue:
    def __init__(self, path: str | Path, *, max_bytes: int = 64 * 1024 * 1024, max_batches: int = 100_000):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_batches = max_batches
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open()
        row = self._db.execute("SELECT count(*), coalesce(sum(length(payload)), 0) FROM batch").fetchone()
        self._count, self._bytes = int(row[0]), int(row[1])
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
                dropped: list[tuple[int, int]] = []
                if count > self.max_batches or size > self.max_bytes:
                    cursor = db.execute("SELECT id, length(payload) FROM batch ORDER BY id")
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
        """Delete acknowledged batches (one transaction, one disk flush for many acks)."""
        ids = list(ids)
        if not ids:
            return 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                freed = 0
                for row_id in ids:
                    row = db.execute("SELECT length(payload) FROM batch WHERE id = ?", (row_id,)).fetchone()
                    if row is not None:
                        db.execute("DELETE FROM batch WHERE id = ?", (row_id,))
                        removed += 1
                        freed += int(row[0])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count -= removed
            self._bytes -= freed
            return removed

    # ------------------------------------------------------------------------------------------- reads

    def peek(self, after_id: int = 0, limit: int = 1) -> list[QueuedBatch]:
        """The oldest batches with an id greater than ``after_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, boot, seq, payload FROM batch WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        return [QueuedBatch(int(r[0]), r[1], int(r[2]), bytes(r[3])) for r in rows]

    def has_after(self, after_id: int) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM batch WHERE id > ? LIMIT 1", (after_id,)).fetchone()
                is not None
            )

    def stats(self) -> tuple[int, int, int]:
        """(batches queued, payload bytes queued, batches dropped since the state dir was created)."""
        with self._lock:
            return self._count, self._bytes, self._dropped

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
