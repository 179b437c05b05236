"""Firmware rollout state per device: which release was offered to it (and under which
offer number), and where the device says the update stands (docs/protocol.md §3.5).

Releases themselves are directories of files (`gaitlink firmware release`); the registry
holds what was offered to whom and what came of it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from gaitlink.cloud.protocol.ota import OtaReport


@dataclass(frozen=True)
class Rollout:
    device: str
    version: str
    offer: int
    state: str
    detail: str
    updated_us: int


def _now_us() -> int:
    return time.time_ns() // 1000


def _rollout(row: sqlite3.Row) -> Rollout:
    return Rollout(
        row["device"], row["version"], row["offer"], row["state"], row["detail"],
        row["updated_us"],
    )  # fmt: skip


class FirmwareStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def offer(self, device_id: str, version: str) -> int:
        """Record a new offer of `version` to the device; its offer number (one more than
        any earlier offer to it, so the device can refuse a replayed one)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            last = self.conn.execute(
                "SELECT max(offer) FROM firmware_rollout WHERE device = ?", (device_id,)
            ).fetchone()[0]
            number = (last or 0) + 1
            self.conn.execute(
                "INSERT INTO firmware_rollout (device, version, state, detail, updated_us, "
                "offer) VALUES (?, ?, 'offered', '', ?, ?) ON CONFLICT (device, version) DO "
                "UPDATE SET state = 'offered', detail = '', updated_us = excluded.updated_us, "
                "offer = excluded.offer",
                (device_id, version, _now_us(), number),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return number

    def record(self, device_id: str, report: OtaReport, at_us: int | None = None) -> bool:
        """The device's report on one of its offers; False if it names no offer made to it
        (or an older one than the row holds)."""
        if report.n is None:
            return False
        detail = report.error or ""
        if report.gap_ms is not None:
            detail = (detail + "; " if detail else "") + f"reboot gap {report.gap_ms} ms"
        cur = self.conn.execute(
            "UPDATE firmware_rollout SET state = ?, detail = ?, updated_us = ? "
            "WHERE device = ? AND offer = ?",
            (report.state, detail, at_us or _now_us(), device_id, report.n),
        )
        return cur.rowcount == 1

    def halt(self, device_id: str, version: str) -> None:
        """The offer was withdrawn before the device took it (registry only)."""
        self.conn.execute(
            "UPDATE firmware_rollout SET state = 'halted', updated_us = ? "
            "WHERE device = ? AND version = ?",
            (_now_us(), device_id, version),
        )

    def of_version(self, version: str) -> list[Rollout]:
        rows = self.conn.execute(
            "SELECT * FROM firmware_rollout WHERE version = ? ORDER BY device", (version,)
        )
        return [_rollout(r) for r in rows]

    def of_device(self, device_id: str) -> list[Rollout]:
        rows = self.conn.execute(
            "SELECT * FROM firmware_rollout WHERE device = ? ORDER BY offer", (device_id,)
        )
        return [_rollout(r) for r in rows]
