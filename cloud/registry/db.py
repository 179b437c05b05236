"""The registry database: one SQLite file in WAL mode, schema upgraded by migrations.

WAL lets the CLI, the ingest and a researcher's script read while one of them writes.
Migrations are numbered by `PRAGMA user_version`; a later room (the device registry) adds
its tables by appending to MIGRATIONS, never by editing an applied step.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

FILENAME = "registry.sqlite3"

MIGRATIONS: tuple[str, ...] = (
    # 1: recording sessions. Times are integer µs since the Unix epoch (as in InfluxDB).
    """
    CREATE TABLE session (
        id        INTEGER PRIMARY KEY,
        subject   TEXT NOT NULL,
        task      TEXT NOT NULL,
        task_id   TEXT NOT NULL,
        task_info TEXT NOT NULL DEFAULT '',
        device    TEXT NOT NULL,
        placement TEXT NOT NULL,
        side      TEXT NOT NULL DEFAULT '',
        start_us  INTEGER NOT NULL,
        end_us    INTEGER,
        CHECK (end_us IS NULL OR end_us > start_us)
    );
    CREATE INDEX session_subject_task ON session (subject, task);
    -- At most one open session per device: a device is worn by one subject at a time.
    CREATE UNIQUE INDEX session_open_device ON session (device) WHERE end_us IS NULL;
    """,
    # 2: devices (keys, mounting), their signed desired configs by version, what each
    # reported, and firmware rollout state. Keys are secrets: the file is owner-only.
    """
    CREATE TABLE device (
        id               TEXT PRIMARY KEY,
        key_hex          TEXT NOT NULL,
        placement        TEXT NOT NULL,
        side             TEXT NOT NULL DEFAULT '',
        axis_map         TEXT NOT NULL DEFAULT 'x,y,z',
        provisioned_us   INTEGER NOT NULL,
        last_seen_us     INTEGER,
        reported_version INTEGER,
        reported_status  TEXT,
        reported_error   TEXT,
        reported_config  TEXT,
        reported_us      INTEGER,
        firmware_version TEXT
    );
    CREATE TABLE device_config (
        device     TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
        version    INTEGER NOT NULL CHECK (version >= 1),
        config     TEXT NOT NULL,  -- the JSON text exactly as signed and sent
        issued     TEXT NOT NULL,
        sig        TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        PRIMARY KEY (device, version)
    );
    CREATE TABLE firmware_rollout (
        device     TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
        version    TEXT NOT NULL,
        state      TEXT NOT NULL,  -- offered, staged, confirmed, rolled_back, failed
        detail     TEXT NOT NULL DEFAULT '',
        updated_us INTEGER NOT NULL,
        PRIMARY KEY (device, version)
    );
    """,
    # 3: each firmware offer carries a number, per device, that only grows: a device refuses
    # an offer not newer than the last it took (a replayed one), whatever its version label.
    """
    ALTER TABLE firmware_rollout ADD COLUMN offer INTEGER NOT NULL DEFAULT 0;
    """,
)


class RegistryError(Exception):
    """The registry file cannot be opened or is newer than this gaitlink."""


def open_registry(path: Path | str, *, any_thread: bool = False) -> sqlite3.Connection:
    """Open (creating if needed, owner-only) and migrate the registry at ``path``.

    `any_thread`: the connection may be used from threads other than this one (the caller
    serialises its use)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Owner-only from the first byte: sessions name study subjects.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(
            path, timeout=10.0, isolation_level=None, check_same_thread=not any_thread
        )
    except (OSError, sqlite3.Error) as exc:
        raise RegistryError(f"cannot open the registry {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    _migrate(conn, path)
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RegistryError(
            f"the registry {path} has schema version {version}, newer than this gaitlink "
            f"({len(MIGRATIONS)}): upgrade gaitlink"
        )
    for number in range(version, len(MIGRATIONS)):
        # One transaction per step, so a crash leaves the file at a known version.
        conn.executescript(
            f"BEGIN IMMEDIATE; {MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;"
        )
