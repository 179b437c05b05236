"""What the ingest writes to InfluxDB, one function per measurement (docs/schema.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np

from gaitlink.cloud.influx.line import Point, encode_point, tag_set
from gaitlink.cloud.ingest._compiled import imu_text
from gaitlink.cloud.protocol.config import ConfigReport
from gaitlink.cloud.protocol.frame import Frame, channel_names
from gaitlink.cloud.protocol.messages import DeviceStatus, EnvTelemetry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# `imu` values are stored to this resolution (micro-units of SI: µm/s², µrad/s), far below
# one LSB of any range the protocol allows (±2 g: 5.99e-4 m/s², ±250 dps: 1.33e-4 rad/s).
# Written as an integer mantissa with an exponent (`ax=-770933e-6`, a float field all the
# same): integers format several times faster than the shortest repr of a float, which
# was most of the ingest's CPU. docs/schema.md says so.
IMU_EXPONENT = -6
_IMU_UNITS = 10.0**-IMU_EXPONENT


def imu_values(body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame SI samples -> (integer micro-units to write, the float values InfluxDB
    stores from them). The gait stage is fed the second, so a cycle cut later from the
    stored samples is exactly the one the stream found."""
    units = np.rint(body * _IMU_UNITS)
    # units / 1e6 is the double nearest the decimal written, as InfluxDB's parser reads it.
    return units.astype(np.int64), units / _IMU_UNITS


def imu_lines(
    device: str, placement: str, frame: Frame, units: np.ndarray, *, flags: int = 0
) -> str:
    """The frame's `imu` points, one line per sample, as one block of text; `units` are
    its samples in the body frame as integer micro-units (imu_values)."""
    n, c = units.shape
    head = _imu_head(device, placement)
    names = channel_names(frame.channels)
    q = frame.quality | flags
    if imu_text is not None:
        # The compiled encoder (_lines.py): `imu_lines` of a 50-sample frame ~14 µs against
        # ~28 µs with the `%`-format below (docs/benchmarks.md), and without the GIL.
        pieces, bounds = _imu_pieces(head, names, q)
        out = np.empty(n * (pieces.size + 21 * (c + 1) + 1), np.uint8)
        size = imu_text(
            np.ascontiguousarray(units, np.int64), frame.t0_us, frame.period_us, pieces,
            bounds, out,
        )  # fmt: skip
        return out[:size].tobytes().decode()
    row = np.empty((n, c + 1), dtype=np.int64)
    row[:, :c] = units
    row[:, c] = frame.timestamps_us()
    # One C-level format of the whole frame: no Python work per sample.
    return _imu_template(head, names, q, n) % tuple(row.ravel().tolist())


@lru_cache(maxsize=1024)
def _imu_head(device: str, placement: str) -> str:
    return "imu" + tag_set({"device": device, "placement": placement})


def _imu_fields(head: str, names: tuple[str, ...], q: int) -> list[str]:
    """The text around a line's numbers: before the first value, between values, and
    before the timestamp. One definition for both encoders."""
    return [f"{head} {names[0]}=", *(f"e{IMU_EXPONENT},{n}=" for n in names[1:]),
            f"e{IMU_EXPONENT},q={q}i "]  # fmt: skip


@lru_cache(maxsize=256)
def _imu_pieces(head: str, names: tuple[str, ...], q: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [p.encode() for p in _imu_fields(head, names, q)]
    bounds = np.cumsum([0, *map(len, parts)]).astype(np.int64)
    return np.frombuffer(b"".join(parts), np.uint8), bounds


@lru_cache(maxsize=256)  # a few devices' templates (~6.5 kB each at 50 samples)
def _imu_template(head: str, names: tuple[str, ...], q: int, n: int) -> str:
    line = "%d".join(p.replace("%", "%%") for p in _imu_fields(head, names, q)) + "%d"
    return "\n".join([line] * n)


def env_line(message: EnvTelemetry) -> str:
    fields: dict[str, float | int | str] = {}
    for name in ("temperature", "humidity", "pressure"):
        reading = getattr(message.sensor_data, name)
        if reading is None:
            continue
        if reading.value is not None:
            fields[name] = float(reading.value)
        fields[f"{name}_quality"] = reading.quality
    status = message.device_status
    if status.battery_level is not None:
        fields["battery"] = float(status.battery_level)
    # A field, not a tag: tags cannot hold every string a device may send (a trailing
    # backslash breaks line protocol), and a new firmware must not start a new series.
    fields["firmware"] = status.firmware_version
    if status.signal_strength is not None:
        fields["rssi"] = float(status.signal_strength)
    if message.location is not None:
        fields["latitude"] = message.location.latitude
        fields["longitude"] = message.location.longitude
    tags = {"device": message.device_id}
    return encode_point(Point("env", tags, fields, epoch_us(message.timestamp)))


def status_line(message: DeviceStatus, received_us: int) -> str:
    fields = {}
    for name, value in message.model_dump(
        exclude={"device_id", "timestamp"}, exclude_none=True
    ).items():
        if isinstance(value, dict):  # faults, clock: InfluxDB has no nested fields
            fields.update({f"{name}_{key}": v for key, v in value.items()})
        else:
            fields[name] = value
    fields["boot_id"] = int(message.boot_id)
    time_us = epoch_us(message.timestamp) if message.timestamp else received_us
    return encode_point(Point("device_status", {"device": message.device_id}, fields, time_us))


def config_line(report: ConfigReport, received_us: int) -> str:
    """A `device_config` point: the config a device runs from this time on (or a rejection),
    so a researcher can tell which settings were active when a sample was taken."""
    fields: dict[str, int | float | str | bool] = {
        "version": report.version,
        "desired_version": report.desired_version or 0,
        "error": report.error or "",
    }
    for name, value in report.config.items():
        if isinstance(value, bool | int | float | str):
            fields[name] = value
        else:  # range_checks: one JSON string, as InfluxDB has no nested fields
            fields[name] = json.dumps(value, separators=(",", ":"), sort_keys=True)
    time_us = epoch_us(report.timestamp) if report.timestamp else received_us
    tags = {"device": report.device_id, "status": report.status}
    return encode_point(Point("device_config", tags, fields, time_us))


def quality_line(device: str, kind: str, time_us: int, **fields: int | str) -> str:
    """An `ingest_quality` incident of one device (docs/schema.md lists the kinds)."""
    return encode_point(Point("ingest_quality", {"device": device, "kind": kind}, fields, time_us))


def epoch_us(ts: datetime) -> int:
    # Integer arithmetic: float seconds would round away microseconds at today's epoch.
    return (ts - EPOCH) // timedelta(microseconds=1)
