"""The gateway's durable spool: device messages on disk between the site and cloud brokers.

SQLite in WAL mode with `synchronous=FULL`: a commit returns only after the WAL is fsynced,
so a message acknowledged to the site broker after `commit()` survives a crash and a power
cut. Commits are grouped: one transaction (one fsync) holds every message that arrived
since the previous one, plus the deletions of messages the cloud broker acknowledged; at
about 8 ms per fsync on a virtual disk that is a few hundred messages per commit at full
rate (docs/gateway.md, "Durability").

Bounds (docs/gateway.md, "Capacity"): a maximum of stored bytes (payload + topic), a
maximum age, and a free-space reserve on the spool's file system. When full, the oldest
messages of the device holding the most bytes are dropped; every drop is counted per
device and reason. Messages already handed to the cloud link are never dropped: they may
have arrived, and a frame must not be both delivered and counted as dropped.

Only one thread may use a Spool (the relay's spool thread): SQLite connections are not
shared, and the bookkeeping here takes no locks.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# What a row takes in the file beyond its payload and topic (rowid, the device index, page
# slack): measured 177 B with 644-byte frames (20 000 rows: 16.9 MB of file for 13.3 MB of
# payload + topic). Counted, so the byte bound holds for the file, not just the payloads.
ROW_OVERHEAD = 170
# Rows dropped in one statement when over a bound: a few MB at most.
_DROP_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    t_in REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spool_device ON spool (device, id);
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """A spooled message as the forwarder sees it."""

    id: int
    device: str
    topic: str
    payload: bytes

    @property
    def size(self) -> int:
        return _size(self.topic, self.payload)


@dataclass(slots=True)
class DeviceLoad:
    messages: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_age_s: float
    reserve_bytes: int


def device_of(topic: str) -> str:
    # gaitlink/v1/{device}/... (docs/protocol.md §1)
    parts = topic.split("/", 3)
    return parts[2] if len(parts) > 2 else ""


def _size(topic: str, payload: bytes) -> int:
    return len(payload) + len(topic) + ROW_OVERHEAD


class Spool:
    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit (NORMAL would fsync only at checkpoints
        # and could lose the last commits in a power cut, after we acked them).
        self._db.execute("PRAGMA synchronous=FULL")
        # Keep the WAL file from growing past what one checkpoint interval needs.
        self._db.execute("PRAGMA journal_size_limit=16777216")
        self._db.executescript(_SCHEMA)
        self._count_from_table()
        # Drops by (device, reason), reason one of "full", "age", "reserve".
        self.dropped: dict[tuple[str, str], int] = {}
        self.commits = 0
        self.commit_seconds = 0.0
        self._free_bytes = self._measure_free()
        self._in_tx = False
        # Messages up to this id have been handed to the cloud link (the relay sets it):
        # the bounds never drop them, since they may already have arrived.
        self.in_flight_through = 0
        # Arrival time of the oldest message, refreshed at each commit: other threads read
        # it (metrics, status) without touching the connection.
        self.oldest_t_in: float | None = None
        self._refresh_oldest()

    def _count_from_table(self) -> None:
        self.load: dict[str, DeviceLoad] = {}
        for device, messages, size in self._db.execute(
            "SELECT device, count(*), sum(length(payload) + length(topic)) FROM spool "
            "GROUP BY device"
        ):
            self.load[device] = DeviceLoad(messages, size + messages * ROW_OVERHEAD)
        self.messages = sum(d.messages for d in self.load.values())
        self.bytes = sum(d.bytes for d in self.load.values())

    def recover(self) -> None:
        """After a failed write or commit: roll back what was not committed and count again
        from the table, so the bookkeeping matches what is on disk."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._in_tx = False
        self._count_from_table()
        self._refresh_oldest()

    # -- writes (inside one transaction, made durable by commit()) -------------------
    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True

    def add(self, messages: Iterable[tuple[str, bytes]], now: float | None = None) -> int:
        """Insert (topic, payload) messages; durable only after the next commit()."""
        now = time.time() if now is None else now
        rows = []
        incoming = 0
        for topic, payload in messages:
            device = device_of(topic)
            size = _size(topic, payload)
            rows.append((device, topic, payload, now))
            load = self.load.get(device)
            if load is None:
                load = self.load[device] = DeviceLoad()
            load.messages += 1
            load.bytes += size
            incoming += size
        if not rows:
            return 0
        self._begin()
        self._db.executemany(
            "INSERT INTO spool (device, topic, payload, t_in) VALUES (?, ?, ?, ?)", rows
        )
        self.messages += len(rows)
        self.bytes += incoming
        self._enforce_size()
        return len(rows)

    def remove_delivered(self, delivered: list[tuple[int, str, int]]) -> None:
        """Delete messages the cloud acknowledged: (id, device, size) as `after` gave them.

        They were handed out by `after` and stayed below `in_flight_through`, so the bounds
        never dropped them: every one is still in the table and the accounting can come
        from the caller instead of a RETURNING per row.
        """
        if not delivered:
            return
        self._begin()
        self._db.executemany("DELETE FROM spool WHERE id = ?", [(d[0],) for d in delivered])
        self._forget([(device, size - ROW_OVERHEAD) for _, device, size in delivered])

    def commit(self) -> float:
        """Make everything since the last commit durable (one WAL fsync); its duration in s."""
        if not self._in_tx:
            return 0.0
        start = time.perf_counter()
        self._db.execute("COMMIT")
        self._in_tx = False
        took = time.perf_counter() - start
        self.commits += 1
        self.commit_seconds += took
        self._refresh_oldest()
        return took

    def _refresh_oldest(self) -> None:
        row = self._db.execute("SELECT t_in FROM spool ORDER BY id LIMIT 1").fetchone()
        self.oldest_t_in = None if row is None else row[0]

    # -- reads -----------------------------------------------------------------------
    def after(self, cursor: int, limit: int) -> list[Stored]:
        """Up to `limit` messages with id > cursor, oldest first (arrival order)."""
        if limit <= 0:
            return []
        return [
            Stored(*row)
            for row in self._db.execute(
                "SELECT id, device, topic, payload FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, limit),
            )
        ]

    def oldest_age_s(self, now: float | None = None) -> float:
        oldest = self.oldest_t_in
        if oldest is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - oldest)

    def last_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM spool").fetchone()
        return row[0] or 0

    # -- bounds ----------------------------------------------------------------------
    def _measure_free(self) -> int:
        return shutil.disk_usage(self.path.parent).free

    def capacity_bytes(self) -> int:
        """The byte bound now: max_bytes, or less when the disk nears its reserve."""
        room_on_disk = self.bytes + self._free_bytes - self.limits.reserve_bytes
        return max(0, min(self.limits.max_bytes, room_on_disk))

    def housekeeping(self, now: float | None = None) -> None:
        """Age bound and free-space check: once a second is enough."""
        now = time.time() if now is None else now
        self._free_bytes = self._measure_free()
        cutoff = now - self.limits.max_age_s
        while True:
            self._begin()
            rows = self._db.execute(
                "DELETE FROM spool WHERE id IN "
                "(SELECT id FROM spool WHERE t_in < ? AND id > ? ORDER BY id LIMIT ?) "
                "RETURNING device, length(payload) + length(topic)",
                (cutoff, self.in_flight_through, _DROP_CHUNK),
            ).fetchall()
            self._count_drops(rows, "age")
            if len(rows) < _DROP_CHUNK:
                break
        self._enforce_size()

    def _enforce_size(self) -> None:
        cap = self.capacity_bytes()
        reason = "full" if cap == self.limits.max_bytes else "reserve"
        while self.bytes > cap and self.messages > 0:
            excess = self.bytes - cap
            # The fullest device first; one whose every message is in flight is skipped
            # (those are on their way: dropping them would count frames that arrive).
            for device, load in sorted(self.load.items(), key=lambda item: -item[1].bytes):
                # Enough of its oldest rows to get under the bound, judged by its mean row
                # size; the outer loop runs again if that was not enough.
                n = max(1, min(_DROP_CHUNK, -(-excess * load.messages // max(load.bytes, 1))))
                rows = self._drop_oldest(device, n)
                if rows:
                    self._count_drops(rows, reason)
                    break
            else:
                return  # all in flight: over the bound by at most the cloud window

    def _drop_oldest(self, device: str, n: int) -> list[tuple[str, int]]:
        self._begin()
        return self._db.execute(
            "DELETE FROM spool WHERE id IN "
            "(SELECT id FROM spool WHERE device = ? AND id > ? ORDER BY id LIMIT ?) "
            "RETURNING device, length(payload) + length(topic)",
            (device, self.in_flight_through, n),
        ).fetchall()

    def _count_drops(self, rows: list[tuple[str, int]], reason: str) -> None:
        if not rows:
            return
        self._forget(rows)
        per_device: dict[str, int] = {}
        for device, _ in rows:
            per_device[device] = per_device.get(device, 0) + 1
        for device, n in per_device.items():
            key = (device, reason)
            self.dropped[key] = self.dropped.get(key, 0) + n
            log.warning(
                "spool %s: dropped the %d oldest messages of device %s (%d dropped so far)",
                reason, n, device, self.dropped[key],
            )  # fmt: skip

    def _forget(self, rows: list[tuple[str, int]]) -> None:
        for device, size in rows:
            load = self.load.get(device)
            if load is None:
                continue
            load.messages -= 1
            load.bytes -= size + ROW_OVERHEAD
            self.messages -= 1
            self.bytes -= size + ROW_OVERHEAD
            if load.messages <= 0:
                del self.load[device]

    def close(self) -> None:
        if self._in_tx:
            self.commit()
        self._db.close()
