"""Which ingest process computes a site's positions: the holder of a PostgreSQL advisory lock.

A tag's position needs all of its sightings in one place, but a shared MQTT subscription spreads them
over every ingest process of the site. So the processes elect one of them per site: the one holding
``pg_try_advisory_lock`` on a database connection of its own. The lock belongs to that connection:
when the leader dies (even ``kill -9``) or loses the database, the lock is free and the next process
to check (every second) takes over. On SQLite, which serves a single process, every process leads.
"""

from __future__ import annotations

import hashlib
import logging

from django.db import DatabaseError, connections

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.blake2b(f"hospital:{name}".encode(), digest_size=8).digest(), "big", signed=True)


class Leadership:
    def __init__(self, name: str, alias: str = "default"):
        self.name = name
        self.alias = alias
        self.key = lock_key(name)
        self.contested = connections[alias].vendor == "postgresql"  # else: one process, always the leader
        self.held = not self.contested
        self._db = None  # the lock's own connection (never the ingest thread's, which is reset on errors)

    def check(self) -> bool:
        """Keep the lead, or take it when free. False while another process leads or the database is away."""
        if not self.contested:
            return True
        try:
            if self._db is None:
                self._db = connections.create_connection(self.alias)
            with self._db.cursor() as cursor:
                if self.held:
                    cursor.execute("SELECT 1")  # the lock lives exactly as long as this connection
                else:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
                    self.held = bool(cursor.fetchone()[0])
                    if self.held:
                        log.info("this process now leads %s", self.name)
        except DatabaseError as exc:
            log.warning("%s: %s", f"lost the lead of {self.name}" if self.held else f"cannot compete for {self.name}",
                        exc)
            self.release()
        return self.held

    def release(self) -> None:
        """Give the lead up (closing the connection frees the lock)."""
        self.held = not self.contested
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except DatabaseError:
                pass
