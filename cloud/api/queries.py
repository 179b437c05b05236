"""What the API reads from InfluxDB: devices, their status, samples, cycles and events.

Device ids reach InfluxQL only after the route checked them against the protocol's id
pattern, and are quoted as string literals all the same. Pages use keyset pagination on
time: the cursor is the time the next page starts at (and the end of the whole range), so
a page never repeats or skips a row when new data arrives meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gaitlink.cloud.api.errors import ApiError, DeviceNotFound, NoData, StoreUnavailable
from gaitlink.cloud.api.models import IMU_CHANNELS, DataQuery
from gaitlink.cloud.influx.client import InfluxError, InfluxV1

_INTERVAL_US = {"1s": 1_000_000, "1m": 60_000_000, "1h": 3_600_000_000}
_STATUS_COUNTERS = (
    "frames_sent", "frames_dropped", "range_violations", "uptime_s", "free_heap", "heap_min_free"
)  # fmt: skip
# Status blocks stored flattened (`faults_i2c_errors`, docs/schema.md) and served nested.
_STATUS_BLOCKS = ("faults", "clock")
DEFAULT_SPAN_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def literal(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Window:
    """[start_us, end_us): the part of the range this page covers."""

    start_us: int
    end_us: int

    @classmethod
    def of(cls, query, now_us: int | None = None) -> Window:
        if query.cursor is not None:
            return decode_cursor(query.cursor)
        end = _us(query.end) if query.end else (now_us or time.time_ns() // 1000)
        start = _us(query.start) if query.start else end - DEFAULT_SPAN_US
        if start >= end:
            raise ApiError("start must be before end", code="invalid_parameter")
        return cls(start, end)

    def where(self, device: str) -> str:
        # InfluxQL integer times are nanoseconds.
        return (
            f"{ident('device')} = {literal(device)} "
            f"AND time >= {self.start_us * 1000} AND time < {self.end_us * 1000}"
        )

    def cursor_after(self, next_start_us: int) -> str:
        raw = json.dumps({"from": next_start_us, "end": self.end_us}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Window:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        window = Window(int(raw["from"]), int(raw["end"]))
    except (ValueError, KeyError, TypeError):
        raise ApiError("cursor is not one this API gave out", code="invalid_cursor") from None
    if window.start_us >= window.end_us:
        raise ApiError("cursor is past the end of its range", code="invalid_cursor")
    return window


class Readings:
    def __init__(self, influx: InfluxV1) -> None:
        self._influx = influx

    async def _rows(self, q: str) -> list[dict]:
        try:
            series = await self._influx.query(q)
        except InfluxError as exc:
            raise StoreUnavailable(str(exc)) from None
        rows = []
        for one in series:
            columns = one["columns"]
            tags = one.get("tags", {})
            rows.extend(
                {**tags, **dict(zip(columns, values, strict=True))} for values in one["values"]
            )
        return rows

    async def device_ids(self) -> dict[str, list[str]]:
        """Device id -> the measurements that hold its data."""
        try:
            series = await self._influx.query('SHOW TAG VALUES WITH KEY = "device"')
        except InfluxError as exc:
            raise StoreUnavailable(str(exc)) from None
        devices: dict[str, list[str]] = {}
        for one in series:
            for _key, value in one["values"]:
                devices.setdefault(value, []).append(one["name"])
        return devices

    async def measurements_of(self, device: str) -> list[str]:
        measurements = (await self.device_ids()).get(device)
        if not measurements:
            raise DeviceNotFound(f"no data from device {device!r} in InfluxDB")
        return sorted(measurements)

    async def state(self, device: str) -> dict:
        """The last status report and the newest time of any of the device's data."""
        await self.measurements_of(device)
        where = f"{ident('device')} = {literal(device)}"
        # `firmware` is in every env point; battery and RSSI only when the board has them.
        status, imu, env, battery, rssi = await asyncio.gather(
            self._rows(f"SELECT * FROM device_status WHERE {where} ORDER BY time DESC LIMIT 1"),
            self._rows(f'SELECT last("q") FROM imu WHERE {where}'),
            self._rows(f'SELECT last("firmware") FROM env WHERE {where}'),
            self._rows(f'SELECT last("battery") FROM env WHERE {where}'),
            self._rows(f'SELECT last("rssi") FROM env WHERE {where}'),
        )
        last = status[0] if status else {}
        times = [rows[0]["time"] for rows in (status, imu, env) if rows]
        return {
            "state": last.get("state"),
            "boot_id": last.get("boot_id"),
            "firmware_version": last.get("firmware_version"),
            "config_version": last.get("config_version"),
            "counters": {k: last[k] for k in _STATUS_COUNTERS if last.get(k) is not None},
            "imu": last.get("imu"),
            **{
                block: {
                    k.removeprefix(f"{block}_"): v
                    for k, v in last.items()
                    if k.startswith(f"{block}_") and v is not None
                }
                for block in _STATUS_BLOCKS
            },
            "last_seen_us": max(times) if times else None,
            "battery": battery[0]["last"] if battery else None,
            "rssi": rssi[0]["last"] if rssi else None,
        }

    async def samples(self, device: str, query: DataQuery) -> tuple[list[dict], str | None]:
        channels = parse_channels(query.channels, aggregated=query.aggregation != "raw")
        window = Window.of(query)
        if query.aggregation == "raw":
            select = ", ".join(ident(c) for c in channels)
            group = ""
            step_us = 1
        else:
            if query.interval is None:
                raise ApiError(
                    f"aggregation={query.aggregation} needs interval=1s, 1m or 1h",
                    code="invalid_parameter",
                )
            fn = query.aggregation
            select = ", ".join(f"{fn}({ident(c)}) AS {ident(c)}" for c in channels)
            group = f" GROUP BY time({query.interval}) fill(none)"
            step_us = _INTERVAL_US[query.interval]
        q = (
            f"SELECT {select} FROM imu WHERE {window.where(device)}{group} "
            f"ORDER BY time ASC LIMIT {query.limit + 1}"
        )
        rows = [_timed(r, channels) for r in await self._rows(q)]
        return _page(rows, query.limit, window, step_us)

    async def latest(self, device: str) -> dict:
        select = ", ".join(ident(c) for c in IMU_CHANNELS)
        rows = await self._rows(
            f"SELECT {select} FROM imu WHERE {ident('device')} = {literal(device)} "
            f"ORDER BY time DESC LIMIT 1"
        )
        if not rows:
            raise NoData(f"no samples from device {device!r}")
        return _timed(rows[0], IMU_CHANNELS)

    async def rows(self, measurement: str, device: str, query) -> tuple[list[dict], str | None]:
        """gait_cycle or gait_event rows in a range, with every field the row has."""
        window = Window.of(query)
        q = (
            f"SELECT * FROM {ident(measurement)} WHERE {window.where(device)} "
            f"ORDER BY time ASC LIMIT {query.limit + 1}"
        )
        rows = []
        for row in await self._rows(q):
            row = {k: v for k, v in row.items() if v is not None and k != "device"}
            row["time_us"] = row.pop("time")
            rows.append(row)
        return _page(rows, query.limit, window, 1)


def parse_channels(text: str, *, aggregated: bool) -> list[str]:
    channels = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in channels if c not in IMU_CHANNELS]
    if unknown or not channels:
        raise ApiError(
            f"channels {text!r}: choose from {','.join(IMU_CHANNELS)}", code="invalid_parameter"
        )
    if aggregated and "q" in channels:
        if text == DataQuery.model_fields["channels"].default:
            channels.remove("q")  # the default set: quality bits have no mean
        else:
            raise ApiError("q (quality bits) cannot be aggregated", code="invalid_parameter")
    return list(dict.fromkeys(channels))


def _timed(row: dict, channels) -> dict:
    out = {"time_us": row["time"]}
    out.update((c, row.get(c)) for c in channels)
    return out


def _page(rows: list[dict], limit: int, window: Window, step_us: int):
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    # The next page starts right after the last row (the next bucket, when aggregated).
    return rows, window.cursor_after(rows[-1]["time_us"] + step_us)


def _us(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ApiError("times need a time zone (RFC 3339 with Z)", code="invalid_parameter")
    # Integer arithmetic: float seconds would round away microseconds.
    return (ts - _EPOCH) // timedelta(microseconds=1)
