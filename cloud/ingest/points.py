"""What the ingest writes to InfluxDB, one function per measurement (docs/schema.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np

from gaitlink.cloud.influx.line import Point, encode_point, tag_set
from gaitlink.cloud.protocol.config import ConfigReport
from gaitlink.cloud.protocol.frame import Frame, channel_names
from gaitlink.cloud.protocol.messages import DeviceStatus, EnvTelemetry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def imu_lines(
    device: str, placement: str, frame: Frame, body: np.ndarray, *, flags: int = 0
) -> list[str]:
    """One `imu` point per sample; `body` is the frame's samples in the body frame, SI."""
    head = "imu" + tag_set({"device": device, "placement": placement})
    q = f"q={frame.quality | flags}i"
    ts = frame.timestamps_us().tolist()
    rows = body.tolist()
    if body.shape[1] == 6:
        # The hot path (every sample of every v1 frame): one f-string per sample is the
        # fastest Python has; repr of each float (the shortest exact form) is most of it.
        return [
            f"{head} ax={ax!r},ay={ay!r},az={az!r},gx={gx!r},gy={gy!r},gz={gz!r},{q} {t}"
            for (ax, ay, az, gx, gy, gz), t in zip(rows, ts, strict=True)
        ]
    values = ",".join(f"{name}={{!r}}" for name in channel_names(frame.channels))
    template = f"{head} {values},{q} {{}}"
    return [template.format(*row, t) for row, t in zip(rows, ts, strict=True)]


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
