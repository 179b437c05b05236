"""The ingest's gait stage: one GaitStream per device, fed frame by frame.

The stream needs contiguous data. What breaks contiguity here, and what is done:
- a seq gap (frames lost upstream): the stream is told `gap_before`, so the cycles the gap
  cuts are written invalid with reason 'gap';
- a new boot_id (the device restarted): a fresh stream;
- a late frame (it arrives after its successors): written to `imu` like any other, but not
  fed to the stream, which has moved past it;
- a clock step (the device set its clock from a time beacon): a step forward is a gap by
  time, which the stream handles; a step backward makes the stream refuse the block as
  late, so the stream is restarted (counted as `clock_steps`).

Contiguity comes from the frame sequence, not from time. The firmware slews its clock
(at most a quarter period between two frames, protocol §2.1) and its sensor clock drifts
against the nominal period, so over minutes a frame's t0 wanders from "stream start +
samples / rate" by far more than the half sample a stream tolerates. A frame that follows
its predecessor by seq, with no OVERRUN bit and within `_STEP_S` of where the previous
frame ended in device time, is therefore pushed without t0; only the others (after a seq
gap, an overrun, or a clock step, which the firmware makes only for errors > 1 s) are
pushed with t0, for the stream to size the gap or refuse the block.
"""

from __future__ import annotations

import numpy as np

from gaitlink.cloud.gait import GaitStream, LateData, StreamPool
from gaitlink.cloud.gait.table import FEATURE_COLUMNS
from gaitlink.cloud.influx.line import Point, encode_point
from gaitlink.cloud.protocol.frame import QUALITY_OVERRUN, Frame

_TIME_FIELDS = ("duration", "cadence", "stance_pct", "swing_pct")
# Half the smallest clock step the firmware makes (it slews errors below 1 s).
_STEP_S = 0.5


class GaitStage:
    def __init__(self) -> None:
        self._pool = StreamPool()
        self._boots: dict[str, int] = {}
        self._next_t0_us: dict[str, int] = {}  # device time right after the last frame fed
        self.clock_steps = 0
        self.events = 0
        self.cycles = 0

    def push(self, device: str, placement: str, frame: Frame, body: np.ndarray, *, gap: bool):
        """Feed one in-order frame; returns the gait_event and gait_cycle lines it completed."""
        if self._boots.get(device) != frame.boot_id:
            self._pool.drop(device)
            self._boots[device] = frame.boot_id
            gap = False  # a fresh stream has nothing before it to cut
        rate_hz = 1e6 / frame.period_us
        quality = np.full(frame.n_samples, frame.quality, dtype=np.uint16)
        t0_s = frame.t0_us / 1e6
        expected = self._next_t0_us.get(device)
        contiguous = (
            not gap
            and not frame.quality & QUALITY_OVERRUN
            and expected is not None
            and abs(frame.t0_us - expected) < _STEP_S * 1e6
        )
        self._next_t0_us[device] = frame.t0_us + frame.n_samples * frame.period_us
        stream = self._pool.stream(device)
        if contiguous and stream is not None and stream.t0 is not None:
            t0_s = stream.t0 + stream.time_s  # the stream's own timeline, exactly contiguous
        try:
            result = self._pool.push(
                device, body, rate_hz, placement, quality=quality, t0=t0_s, gap_before=gap
            )
        except LateData:
            self.clock_steps += 1
            self._pool.drop(device)
            result = self._pool.push(device, body, rate_hz, placement, quality=quality, t0=t0_s)
        stream = self._pool.stream(device)
        return self._lines(device, placement, stream, result)

    def drop(self, device: str) -> None:
        """Forget a device's stream (it failed); the next frame starts a fresh one."""
        self._pool.drop(device)
        self._boots.pop(device, None)
        self._next_t0_us.pop(device, None)

    def _lines(self, device: str, placement: str, stream: GaitStream, result) -> list[str]:
        origin_us = round(stream.t0 * 1e6)
        now_s = stream.time_s
        lines = []
        for kind, times in (("IC", result.initial_contacts), ("FC", result.final_contacts)):
            for t in times.tolist():
                # delay_ms: data time from the event to its detection, the stream's latency.
                fields = {"delay_ms": round((now_s - t) * 1000, 1)}
                lines.append(
                    encode_point(
                        Point(
                            "gait_event",
                            {"device": device, "kind": kind, "placement": placement},
                            fields,
                            origin_us + round(t * 1e6),
                        )
                    )
                )
        self.events += len(lines)
        for row in result.cycles:
            fields: dict[str, float | bool | str | int] = {
                name: float(row[name]) for name in _TIME_FIELDS + FEATURE_COLUMNS
            }
            # `duration` is an InfluxQL keyword: a field of that name must be quoted in
            # every query, so it is stored with its unit instead.
            fields["duration_s"] = fields.pop("duration")
            for name in ("end", "fc"):
                if np.isfinite(row[name]):  # a cycle cut by a gap may have no FC
                    fields[f"{name}_us"] = origin_us + round(float(row[name]) * 1e6)
            # The stream's own clock: the research API maps the cycle onto the stored
            # samples by stream index (device clock steps shift their timestamps, not
            # their index) and cuts it exactly as the stream did, not to the nearest µs.
            fields["origin_us"] = origin_us
            fields["rate_hz"] = stream.rate_hz
            fields["start_s"] = float(row["start"])
            fields["end_s"] = float(row["end"])
            fields["valid"] = bool(row["valid"])
            fields["reason"] = str(row["reason"])
            if row["side"]:
                fields["side"] = str(row["side"])
            fields = {k: v for k, v in fields.items() if not _is_nan(v)}
            lines.append(
                encode_point(
                    Point(
                        "gait_cycle",
                        {"device": device, "placement": placement},
                        fields,
                        origin_us + round(float(row["start"]) * 1e6),
                    )
                )
            )
            self.cycles += 1
        return lines


def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value
