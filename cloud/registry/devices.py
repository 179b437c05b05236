"""The device registry: each device's key and mounting, its desired configs by version,
and what it last reported. It is the source of truth that the ingest's `--devices` JSON
file stands in for; (the JSON stays an import format).

A desired config is stored as the exact text that was signed, so what the registry holds
is what the device verified, byte for byte.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gaitlink.cloud.protocol.config import (
    KEY_BYTES,
    ConfigReport,
    RemoteConfig,
    config_text,
    desired_message,
    now_rfc3339,
    signature,
)
from gaitlink.cloud.protocol.topics import valid_device_id

PLACEMENTS = ("foot", "shank", "lower_back")
SIDES = ("", "left", "right")


class DeviceError(ValueError):
    """A device request that cannot be honoured; the text says why and what to do."""


@dataclass(frozen=True)
class Desired:
    version: int
    text: str
    issued: str
    sig: str

    def values(self) -> dict:
        return json.loads(self.text)

    def message(self) -> bytes:
        return desired_message(self.version, self.text, self.sig, self.issued)


@dataclass(frozen=True)
class Device:
    id: str
    key: bytes
    placement: str
    side: str
    axis_map: str
    provisioned_us: int
    last_seen_us: int | None
    reported_version: int | None
    reported_status: str | None
    reported_error: str | None
    reported_config: dict | None
    reported_us: int | None


def _now_us() -> int:
    return time.time_ns() // 1000


def _device(row: sqlite3.Row) -> Device:
    return Device(
        id=row["id"],
        key=bytes.fromhex(row["key_hex"]),
        placement=row["placement"],
        side=row["side"],
        axis_map=row["axis_map"],
        provisioned_us=row["provisioned_us"],
        last_seen_us=row["last_seen_us"],
        reported_version=row["reported_version"],
        reported_status=row["reported_status"],
        reported_error=row["reported_error"],
        reported_config=json.loads(row["reported_config"]) if row["reported_config"] else None,
        reported_us=row["reported_us"],
    )


class DeviceStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def provision(self, device_id: str, placement: str, side: str = "") -> Device:
        if not valid_device_id(device_id):
            raise DeviceError(
                f"device id {device_id!r}: use 1-32 of a-z, 0-9 and '-', starting with a "
                "letter or digit (e.g. gl-0001)"
            )
        if placement not in PLACEMENTS:
            raise DeviceError(f"placement {placement!r}: one of {', '.join(PLACEMENTS)}")
        if side not in SIDES or (side and placement == "lower_back"):
            raise DeviceError(f"side {side!r}: left or right, for a foot or shank only")
        try:
            self.conn.execute(
                "INSERT INTO device (id, key_hex, placement, side, provisioned_us) "
                "VALUES (?, ?, ?, ?, ?)",
                (device_id, secrets.token_bytes(KEY_BYTES).hex(), placement, side, _now_us()),
            )
        except sqlite3.IntegrityError:
            raise DeviceError(
                f"device {device_id} is already provisioned; its key and device file stay as "
                "they are"
            ) from None
        return self.get(device_id)

    def import_profiles(self, path) -> list[str]:
        """Devices of an old ingest `--devices` JSON file ({id: {placement, axis_map,
        provisioned}}) that the registry lacks, provisioned with new keys; the ids added.
        Known ones are kept. Without a `provisioned` date the time is stored as unknown (0),
        so the device's older data is not refused as from before its provisioning."""
        from gaitlink.cloud.ingest.devices import read_profiles

        try:
            profiles = read_profiles(Path(path))
        except ValueError as exc:
            raise DeviceError(str(exc)) from None
        added = []
        for device_id, profile in sorted(profiles.items()):
            if self.conn.execute("SELECT 1 FROM device WHERE id = ?", (device_id,)).fetchone():
                continue
            day = profile.provisioned
            provisioned_us = (
                int(datetime.combine(day, datetime.min.time(), UTC).timestamp()) * 10**6
                if day
                else 0
            )
            # One transaction: a running ingest never sees the device half imported.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.provision(device_id, profile.placement)
                self.conn.execute(
                    "UPDATE device SET axis_map = ?, provisioned_us = ? WHERE id = ?",
                    (profile.axis_map, provisioned_us, device_id),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            added.append(device_id)
        return added

    def get(self, device_id: str) -> Device:
        row = self.conn.execute("SELECT * FROM device WHERE id = ?", (device_id,)).fetchone()
        if row is None:
            raise DeviceError(
                f"device {device_id} is not provisioned: run `gaitlink device provision "
                f"{device_id} --placement …` first"
            )
        return _device(row)

    def list(self) -> list[Device]:
        return [_device(r) for r in self.conn.execute("SELECT * FROM device ORDER BY id")]

    def desired(self, device_id: str) -> Desired | None:
        row = self.conn.execute(
            "SELECT version, config, issued, sig FROM device_config WHERE device = ? "
            "ORDER BY version DESC LIMIT 1",
            (device_id,),
        ).fetchone()
        return Desired(row[0], row[1], row[2], row[3]) if row else None

    def set_config(self, device_id: str, changes: dict) -> Desired:
        """The next version: the last desired config with `changes` on top, checked, signed
        and stored (in one transaction, so two operators never issue the same version)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            device = self.get(device_id)
            last = self.desired(device_id)
            values = (last.values() if last else {}) | changes
            try:
                checked = RemoteConfig.model_validate(values).values()
            except ValueError as exc:
                raise DeviceError(_one_line(exc)) from None
            version = (last.version if last else 0) + 1
            text = config_text(checked)
            desired = Desired(version, text, now_rfc3339(), signature(device.key, version, text))
            self.conn.execute(
                "INSERT INTO device_config (device, version, config, issued, sig, created_us) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (device_id, version, text, desired.issued, desired.sig, _now_us()),
            )
            if "axis_map" in changes:
                self.conn.execute(
                    "UPDATE device SET axis_map = ? WHERE id = ?", (checked["axis_map"], device_id)
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return desired

    def record_report(self, report: ConfigReport, at_us: int | None = None) -> None:
        """What the device reported, unless a later report is recorded already (the ingest
        and `device show` both record; a redelivered old report must not win)."""
        at_us = at_us if at_us is not None else _now_us()
        self.conn.execute(
            "UPDATE device SET reported_version = ?, reported_status = ?, reported_error = ?, "
            "reported_config = ?, reported_us = ? "
            "WHERE id = ? AND (reported_us IS NULL OR reported_us <= ?)",
            (
                report.version,
                report.status,
                report.error,
                json.dumps(report.config),
                at_us,
                report.device_id,
                at_us,
            ),
        )

    def seen(self, device_id: str, at_us: int) -> None:
        self.conn.execute(
            "UPDATE device SET last_seen_us = max(coalesce(last_seen_us, 0), ?) WHERE id = ?",
            (at_us, device_id),
        )


def in_sync(device: Device, desired: Desired | None) -> bool:
    """The device runs the last desired version (none desired and none reported: in sync)."""
    return (device.reported_version or 0) == (desired.version if desired else 0)


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
