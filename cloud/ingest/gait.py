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
from gaitlink.cloud.gait.table import CYCLE_DTYPE, FEATURE_COLUMNS
from gaitlink.cloud.influx.line import LineProtocolError, field_value, tag_set
from gaitlink.cloud.protocol.frame import QUALITY_OVERRUN, Frame

_TIME_FIELDS = ("duration", "cadence", "stance_pct", "swing_pct")
# Half the smallest clock step the firmware makes (it slews errors below 1 s).
_STEP_S = 0.5


class GaitStage:
    def __init__(self) -> None:
        self._pool = StreamPool()
        self._boots: dict[str, int] = {}
        self._next_t0_us: dict[str, int] = {}  # device time right after the last frame fed
        self._heads: dict[tuple[str, str], tuple[str, str, str]] = {}
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
        # Text built here rather than through encode_point: this runs for every event and
        # cycle of every device, and the generic encoder's per-field dispatch was a third of
        # the gait stage. The lines are the same, field for field (tests/cloud/test_ingest_gait).
        heads = self._heads.get((device, placement))
        if heads is None:
            heads = self._heads[(device, placement)] = _heads(device, placement)
        origin_us = round(stream.t0 * 1e6)
        now_s = stream.time_s
        lines = []
        for head, times in zip(
            heads[:2], (result.initial_contacts, result.final_contacts), strict=True
        ):
            for t in times.tolist():
                # delay_ms: data time from the event to its detection, the stream's latency.
                delay_ms = round((now_s - t) * 1000, 1)
                lines.append(f"{head} delay_ms={delay_ms!r} {origin_us + round(t * 1e6)}")
        self.events += len(lines)
        rate_hz = field_value("gait_cycle", "rate_hz", stream.rate_hz)
        for row in result.cycles.tolist():
            start, end, fc, duration = row[:4]
            values = (*row[_FIRST_WRITTEN:_AFTER_FLOATS], duration)
            if _INF in (start, end, *values) or -_INF in (start, end, *values):
                raise LineProtocolError(f"gait_cycle of {device}: a field is infinite {row}")
            # NaN: no value (InfluxDB stores none); `duration` is an InfluxQL keyword, so
            # the field is stored with its unit instead.
            fields = [
                f"{name}={v!r}" for name, v in zip(_FLOAT_FIELDS, values, strict=True) if v == v
            ]
            for name, at in (("end_us", end), ("fc_us", fc)):
                if at == at and at not in (_INF, -_INF):  # a cycle cut by a gap may have no FC
                    fields.append(f"{name}={origin_us + round(at * 1e6)}i")
            # The stream's own clock: the research API maps the cycle onto the stored
            # samples by stream index (device clock steps shift their timestamps, not
            # their index) and cuts it exactly as the stream did, not to the nearest µs.
            fields.append(f"origin_us={origin_us}i,rate_hz={rate_hz}")
            fields += [
                f"{name}={v!r}" for name, v in (("start_s", start), ("end_s", end)) if v == v
            ]
            valid, reason, side = row[_AFTER_FLOATS:]
            fields.append(f"valid={'true' if valid else 'false'}")
            fields.append(f"reason={field_value('gait_cycle', 'reason', reason)}")
            if side:
                fields.append(f"side={field_value('gait_cycle', 'side', side)}")
            lines.append(f"{heads[2]} {','.join(fields)} {origin_us + round(start * 1e6)}")
            self.cycles += 1
        return lines


_INF = float("inf")
# Columns of a cycles row (cloud.gait.table.CYCLE_DTYPE): start, end, fc, duration, the
# other time fields, the features; then valid, reason, side.
_FIRST_WRITTEN = 4
_AFTER_FLOATS = _FIRST_WRITTEN + len(_TIME_FIELDS) - 1 + len(FEATURE_COLUMNS)
_FLOAT_FIELDS = (*_TIME_FIELDS[1:], *FEATURE_COLUMNS, "duration_s")
if CYCLE_DTYPE.names != ("start", "end", "fc", "duration", *_FLOAT_FIELDS[:-1], "valid",
                          "reason", "side"):  # fmt: skip
    raise ImportError("cloud.gait.table.CYCLE_DTYPE changed: update the gait_cycle encoder")


def _heads(device: str, placement: str) -> tuple[str, str, str]:
    """Measurement and tags of a device's IC, FC and cycle lines."""
    return (
        *(f"gait_event{tag_set({'device': device, 'kind': k, 'placement': placement})}"
          for k in ("IC", "FC")),
        f"gait_cycle{tag_set({'device': device, 'placement': placement})}",
    )  # fmt: skip
