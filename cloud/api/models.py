"""Every body the API takes or returns, as pydantic models: the views and the OpenAPI
document are both generated from these, so they cannot disagree."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IMU_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz", "q")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Query(BaseModel):
    # Unknown query parameters are an error, so a typo (`limt=`) is not silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(_Body):
    error: str = Field(description="stable machine-readable code, e.g. `device_not_found`")
    detail: str = Field(description="what was wrong and what to do")


class Health(_Body):
    status: Literal["ok", "degraded"]
    problems: list[str]


class DeviceSummary(_Body):
    id: str
    placement: str
    axis_map: str


class DeviceList(_Body):
    devices: list[DeviceSummary]


class DeviceState(_Body):
    id: str
    online: bool = Field(description="seen within `offline_after_s` and not reported offline")
    state: str | None = Field(description="last reported state: online, offline, rebooting")
    last_seen_us: int | None = Field(description="newest imu, env or status time, epoch µs")
    boot_id: int | None
    firmware_version: str | None
    config_version: int | None
    counters: dict[str, float] = Field(
        description="the device's own counters from its last status report "
        "(frames_sent, frames_dropped, range_violations, uptime_s, free_heap, heap_min_free)"
    )
    imu: Literal["ok", "lost"] | None = Field(
        None, description="whether the device reads its IMU, from its last status report"
    )
    faults: dict[str, int] = Field(
        default_factory=dict,
        description="fault counters since boot from its last status report (i2c_errors, "
        "imu_lost, imu_reinits, fifo_overflows, samples_lost, stuck_events, clipped_frames, "
        "env_errors)",
    )
    clock: dict[str, int] = Field(
        default_factory=dict,
        description="clock corrections since boot (steps, slews) and the last measured "
        "error against the time beacon (last_error_us)",
    )
    battery: float | None = Field(None, description="last reported battery level, %")
    rssi: float | None = Field(None, description="last reported Wi-Fi signal strength, dBm")


class DesiredConfig(_Body):
    version: int = Field(description="the version the cloud signed last")
    issued: str = Field(description="when it was signed, RFC 3339")
    config: dict[str, Any] = Field(description="the config as signed and published retained")


class ReportedConfig(_Body):
    version: int = Field(description="the config version the device runs")
    status: Literal["applied", "rejected"] = Field(description="what became of the last desired")
    error: str | None = Field(description="why it was rejected (docs/protocol.md §3.4)")
    config: dict[str, Any] = Field(description="the config the device reported it runs")
    reported_us: int | None = Field(description="time of the report, epoch µs")


class Device(DeviceSummary):
    side: str = Field(description="left or right (foot, shank); empty otherwise")
    provisioned: bool = Field(
        description="in the registry; false for a device whose data came from a test rig"
    )
    measurements: list[str] = Field(description="InfluxDB measurements holding its data")
    desired: DesiredConfig | None = Field(description="what the cloud wants it to run")
    reported: ReportedConfig | None = Field(description="what it last reported running")
    in_sync: bool = Field(description="the reported version is the desired one")
    firmware_version: str | None = Field(description="from its last status report")
    online: bool = Field(description="seen within `offline_after_s` and not reported offline")
    last_seen_us: int | None = Field(description="newest imu, env or status time, epoch µs")
    status: DeviceState | None = Field(description="its last status report, as /status gives")


class _Range(_Query):
    start: datetime | None = Field(None, description="inclusive; default one hour before end")
    end: datetime | None = Field(None, description="exclusive; default now")
    limit: int = Field(1000, ge=1, le=10_000, description="rows per page")
    cursor: str | None = Field(
        None, description="`next_cursor` of the previous page; replaces start and end"
    )


class DataQuery(_Range):
    channels: str = Field(
        "ax,ay,az,gx,gy,gz,q", description=f"comma-separated subset of {','.join(IMU_CHANNELS)}"
    )
    aggregation: Literal["raw", "mean", "min", "max"] = "raw"
    interval: Literal["1s", "1m", "1h"] | None = Field(
        None, description="bucket of an aggregation (required unless aggregation=raw)"
    )


class RangeQuery(_Range):
    pass


class _Page(_Body):
    device: str
    truncated: bool = Field(description="more rows match than `limit`; fetch `next_cursor`")
    next_cursor: str | None


class DataPage(_Page):
    aggregation: str
    interval: str | None
    channels: list[str]
    rows: list[dict[str, float | int | None]] = Field(
        description="`time_us` (epoch µs; bucket start when aggregated) and one key per channel"
    )


class LatestSample(_Body):
    device: str
    time_us: int
    values: dict[str, float | int]


class CyclePage(_Page):
    rows: list[dict[str, float | int | bool | str]] = Field(
        description="gait_cycle rows of docs/schema.md, with `time_us` (the opening IC)"
    )


class EventPage(_Page):
    rows: list[dict[str, float | int | str]] = Field(
        description="gait_event rows: `time_us`, `kind` (IC/FC), `placement`, `delay_ms`"
    )


class IngestAccepted(_Body):
    device_id: str
    points: int = Field(description="points written to InfluxDB")


class Stats(BaseModel):
    # The ingest's counters as they are; their names are documented in docs/api.md.
    model_config = ConfigDict(extra="allow", frozen=True)


# -- recording sessions (cloud/registry/sessions.py; docs/researchers.md) ---------------


class SessionStart(_Body):
    subject: str = Field(description="LocoHub subject id `<DATASET>_<POP><NN>`, e.g. LAB1_AB01")
    task: str = Field(description="LocoHub task (`level_walking`, …) or an own snake_case name")
    task_id: str | None = Field(None, description="the task's variant (default: the task)")
    task_info: str = Field("", description="conditions as `key:value,…`")
    device: str
    placement: Literal["foot", "shank", "lower_back"]
    side: Literal["", "left", "right"] = Field("", description="foot/shank: left or right")
    start: datetime | None = Field(None, description="with a zone; default now")


class SessionStop(_Body):
    end: datetime | None = Field(None, description="with a zone; default now")


class SessionQuery(_Query):
    subject: str | None = None
    task: str | None = None
    open: bool = Field(False, description="only sessions not stopped yet")


class SessionOut(_Body):
    id: int
    subject: str
    task: str
    task_id: str
    task_info: str
    device: str
    placement: str
    side: str
    start_us: int = Field(description="epoch µs")
    end_us: int | None = Field(description="epoch µs; null while open")


class SessionList(_Body):
    sessions: list[SessionOut]
