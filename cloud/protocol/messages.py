"""JSON messages of protocol v1 (docs/protocol.md §3), validated with pydantic.

Unknown keys are ignored, as the protocol's minor-change rule requires; everything the
cloud stores is checked for type, and readings for the range a sensor can physically
report, so a bad reading is rejected with the field's name instead of landing in InfluxDB.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"  # Rust regex: $ is end of text
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class Location(_Message):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


Quality = Literal["good", "out_of_range", "sensor_error"]


class Reading(_Message):
    value: float | None
    unit: str
    quality: Quality

    @model_validator(mode="after")
    def _value_matches_quality(self) -> Reading:
        if (self.value is None) != (self.quality == "sensor_error"):
            raise ValueError("value must be null exactly when quality is 'sensor_error'")
        return self


# The unit each quantity must be sent in; a device that sends °F is rejected, not converted.
ENV_UNITS = {"temperature": "°C", "humidity": "%", "pressure": "hPa"}
# What an environmental sensor can report at all (the BME280's operating ranges, widened
# a little); beyond it the reading is not a measurement. The device's own, narrower range
# checks mark plausible-but-unexpected values `out_of_range` instead.
ENV_LIMITS = {"temperature": (-60.0, 100.0), "humidity": (0.0, 100.0), "pressure": (250.0, 1150.0)}


class SensorData(_Message):
    temperature: Reading | None = None
    humidity: Reading | None = None
    pressure: Reading | None = None

    @field_validator("temperature", "humidity", "pressure")
    @classmethod
    def _unit(cls, reading: Reading | None, info) -> Reading | None:
        if reading is None:
            return reading
        expected = ENV_UNITS[info.field_name]
        if reading.unit != expected:
            raise ValueError(f"unit must be {expected!r}, got {reading.unit!r}")
        low, high = ENV_LIMITS[info.field_name]
        if reading.value is not None and not low <= reading.value <= high:
            raise ValueError(
                f"value {reading.value} is outside what a sensor reports ({low}..{high})"
            )
        return reading


class DeviceStatusBlock(_Message):
    # optional: a board without a battery divider or an RSSI reading leaves them out
    battery_level: float | None = Field(default=None, ge=0, le=100)
    signal_strength: float | None = Field(default=None, le=0)
    firmware_version: str = Field(min_length=1, max_length=32)


class EnvTelemetry(_Message):
    device_id: DeviceId
    timestamp: datetime
    location: Location | None = None
    sensor_data: SensorData
    device_status: DeviceStatusBlock

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, ts: datetime) -> datetime:
        if ts.tzinfo is None:
            raise ValueError("must carry a time zone (RFC 3339 with Z)")
        return ts


Count = Annotated[int, Field(ge=0, lt=2**63, strict=True)]
# Any size: the first beacon after boot measures the whole offset of an unset clock (an
# RTC at 2000-01-01 is ~8e14 µs off); only InfluxDB's int64 bounds it.
ClockError = Annotated[int, Field(gt=-(2**63), lt=2**63, strict=True)]


class StatusFaults(_Message):
    """Fault counters since boot (docs/firmware.md, "Faults"); a newer firmware's extra
    counters are ignored, as unknown keys are."""

    i2c_errors: Count | None = None
    imu_lost: Count | None = None
    imu_reinits: Count | None = None
    fifo_overflows: Count | None = None
    samples_lost: Count | None = None
    stuck_events: Count | None = None
    clipped_frames: Count | None = None
    env_errors: Count | None = None


class StatusClock(_Message):
    """The device clock's corrections since boot and its last measured error against the
    time beacon (µs, either sign)."""

    steps: Count | None = None
    slews: Count | None = None
    last_error_us: ClockError | None = None


class DeviceStatus(_Message):
    device_id: DeviceId
    state: Literal["online", "offline", "rebooting", "safe_mode", "updating"]
    boot_id: int = Field(ge=0, lt=2**32)
    timestamp: datetime | None = None
    firmware_version: str | None = None
    config_version: int | None = Field(default=None, ge=0)
    uptime_s: float | None = Field(default=None, ge=0)
    frames_sent: int | None = Field(default=None, ge=0)
    frames_dropped: int | None = Field(default=None, ge=0)
    range_violations: int | None = Field(default=None, ge=0)
    free_heap: int | None = Field(default=None, ge=0)
    reason: str | None = Field(default=None, max_length=500)  # why safe_mode
    # since 2026-12-01 (docs/protocol.md §3.2)
    heap_min_free: int | None = Field(default=None, ge=0)
    imu: Literal["ok", "lost"] | None = None
    faults: StatusFaults | None = None
    clock: StatusClock | None = None


# What a status must have to be a status; a bad value anywhere else costs only that field.
_STATUS_CORE = frozenset({"device_id", "state", "boot_id", "timestamp"})


class MessageError(ValueError):
    """A JSON message that failed validation; the text names every bad field."""


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
    )


def parse(model: type[_Message], payload: bytes, *, device: str) -> _Message:
    """Parse and validate `payload`; the device id inside must match the topic's."""
    try:
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        raise MessageError(f"invalid {model.__name__}: {_problems(exc)}") from None
    return _same_device(message, device)


def parse_status(payload: bytes, *, device: str) -> tuple[DeviceStatus, str | None]:
    """A status, and what was wrong with the fields left out of it (None: nothing).

    A bad value in an optional field (a counter, `faults`, `clock`, …) drops that field
    only: the state, boot and the other fields are still worth storing. A status whose
    core (`device_id`, `state`, `boot_id`, `timestamp`) is bad is a MessageError."""
    try:
        return _same_device(DeviceStatus.model_validate_json(payload), device), None
    except ValidationError as exc:
        first = exc
    locs = [err["loc"] for err in first.errors()]
    try:
        raw = json.loads(payload)
    except ValueError:
        raw = None
    if not isinstance(raw, dict) or not all(locs) or {loc[0] for loc in locs} & _STATUS_CORE:
        raise MessageError(f"invalid DeviceStatus: {_problems(first)}") from None
    for loc in locs:  # drop each bad value itself: one bad counter keeps the others
        parent = raw
        for key in loc[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
    try:
        status = DeviceStatus.model_validate(raw)
    except ValidationError as exc:
        raise MessageError(f"invalid DeviceStatus: {_problems(exc)}") from None
    return _same_device(status, device), f"left out: {_problems(first)}"


def _same_device(message: _Message, device: str) -> _Message:
    if message.device_id != device:
        raise MessageError(
            f"device_id {message.device_id!r} does not match the topic's device {device!r}"
        )
    return message
