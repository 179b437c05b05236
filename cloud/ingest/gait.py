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
frame ended in device time, is therefore pushed on the stream's own timeline; only the
others (after a seq gap, an overrun, or a clock step, which the firmware makes only for
errors > 1 s) are pushed that far past the stream's end as the device's clock says they
start past the previous frame's end, for the stream to size the gap or refuse the block.

Events and cycles are dated on the device's own sample times, not on the stream's nominal
grid (its first t0 + index / rate), which the device's clock leaves by many periods: each
device's `SampleClock` holds its recent frames as (stream index of the first sample, t0_us),
and a stream index is dated by the frame that holds it (`t0_us + i * period_us`, protocol
§2.1). A cycle also carries `first_us`, the exact time of the first sample the cycle's
resampling reads (`first_sample`), from which the research API counts the stored samples.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from gaitlink.cloud.gait import GaitStream, LateData, StreamPool
from gaitlink.cloud.gait.table import CYCLE_DTYPE, FEATURE_COLUMNS
from gaitlink.cloud.influx.line import LineProtocolError, field_value, tag_set
from gaitlink.cloud.protocol.frame import QUALITY_OVERRUN, Frame

_TIME_FIELDS = ("duration", "cadence", "stance_pct", "swing_pct")
# Half the smallest clock step the firmware makes (it slews errors below 1 s).
_STEP_S = 0.5
# How far back a SampleClock dates samples exactly: stream time behind the newest sample.
# A valid cycle (at most 2.5 s) is decided within the look-ahead (at most 1 s) of its end,
# so its samples are always within this; only an over-long, invalid cycle reaches further.
_HORIZON_S = 10.0
# And at most this many frames per device (50-sample frames at 100 Hz: 256 s; only frames
# of under 4 samples at 100 Hz would make the count, not the horizon, the bound).
_MAX_FRAMES = 256


def first_sample(start_s, rate_hz):
    """Stream index of a cycle's first sample: `normalize_cycles` reads samples
    floor(start)..floor(end)+1 of a cycle [start, end] (fractional indices). One formula,
    here and in the research API's cut, on the same stored floats."""
    return np.floor(np.multiply(start_s, rate_hz)).astype(np.int64)


class SampleClock:
    """Device time of one stream's samples, from the frames that held them.

    Bounded: a frame is dropped (oldest first) once the next one starts `_HORIZON_S` of
    stream time before the newest sample, or when more than `_MAX_FRAMES` are held. A time
    before the oldest frame held is dated from that frame on the nominal period and counted
    in `extrapolated`: only an over-long cycle (invalid, reason 'duration') starts there.
    """

    __slots__ = ("_frames", "_horizon", "extrapolated", "period_us", "stream")

    def __init__(self, stream: GaitStream, period_us: int) -> None:
        self.stream = stream
        self.period_us = period_us
        self._frames: deque[tuple[int, int]] = deque()  # (stream index of sample 0, t0_us)
        self._horizon = math.ceil(_HORIZON_S * 1e6 / period_us)
        self.extrapolated = 0

    def add(self, first: int, t0_us: int, n_samples: int) -> None:
        frames = self._frames
        frames.append((first, t0_us))
        oldest_needed = first + n_samples - self._horizon
        while len(frames) > 1 and (len(frames) > _MAX_FRAMES or frames[1][0] <= oldest_needed):
            frames.popleft()

    def _frame(self, index: int) -> tuple[int, int]:
        # Events are recent: search from the newest frame back.
        for first, t0_us in reversed(self._frames):
            if first <= index:
                return first, t0_us
        self.extrapolated += 1
        return self._frames[0]

    def sample_us(self, index: int) -> int:
        """Epoch µs of stream sample `index`: exactly the time the device gave it."""
        first, t0_us = self._frame(index)
        return t0_us + (index - first) * self.period_us

    def time_us(self, t_s: float) -> int:
        """Epoch µs of stream time `t_s` (seconds from sample 0; an event between samples is
        placed between them on the period of the frame that holds the sample before it)."""
        # 1e-6: a time computed as index / rate may land a hair below its index.
        first, t0_us = self._frame(math.floor(t_s * self.stream.rate_hz + 1e-6))
        return t0_us + round(t_s * 1e6 - first * self.period_us)


class GaitStage:
    def __init__(self) -> None:
        self._pool = StreamPool()
        self._boots: dict[str, int] = {}
        self._next_t0_us: dict[str, int] = {}  # device time right after the last frame fed
        self._clocks: dict[str, SampleClock] = {}
        self._heads: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.clock_steps = 0
        self._extrapolated = 0  # of the SampleClocks dropped
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
        at_s = t0_s
        if (
            expected is not None
            and stream is not None
            and stream.t0 is not None
            and (stream.rate_hz, stream.placement) == (rate_hz, placement)
        ):
            # On the stream's own timeline: right after its last sample when the frame
            # follows; else moved on by what the device's clock says passed since the
            # previous frame ended, so a gap is sized from the device's own times (measured
            # from the stream's origin, it would carry the clock's drift since then).
            at_s = stream.t0 + stream.time_s
            if not contiguous:
                at_s += (frame.t0_us - expected) / 1e6
        try:
            result = self._pool.push(
                device, body, rate_hz, placement, quality=quality, t0=at_s, gap_before=gap
            )
        except LateData:
            self.clock_steps += 1
            self._pool.drop(device)
            result = self._pool.push(device, body, rate_hz, placement, quality=quality, t0=t0_s)
        stream = self._pool.stream(device)
        clock = self._clocks.get(device)
        if clock is None or clock.stream is not stream:  # a new stream: a new sample count
            self._extrapolated += clock.extrapolated if clock is not None else 0
            clock = self._clocks[device] = SampleClock(stream, frame.period_us)
        # The stream has counted this frame (and any gap it sized before it).
        clock.add(stream.samples_seen - frame.n_samples, frame.t0_us, frame.n_samples)
        return self._lines(device, placement, clock, result)

    @property
    def times_extrapolated(self) -> int:
        """Event and cycle times dated past the frames a SampleClock holds (see there)."""
        return self._extrapolated + sum(c.extrapolated for c in self._clocks.values())

    def drop(self, device: str) -> None:
        """Forget a device's stream (it failed); the next frame starts a fresh one."""
        self._pool.drop(device)
        self._boots.pop(device, None)
        self._next_t0_us.pop(device, None)
        if (clock := self._clocks.pop(device, None)) is not None:
            self._extrapolated += clock.extrapolated

    def _lines(self, device: str, placement: str, clock: SampleClock, result) -> list[str]:
        # Text built here rather than through encode_point: this runs for every event and
        # cycle of every device, and the generic encoder's per-field dispatch was a third of
        # the gait stage. The lines are the same, field for field (tests/cloud/test_ingest_gait).
        heads = self._heads.get((device, placement))
        if heads is None:
            heads = self._heads[(device, placement)] = _heads(device, placement)
        stream = clock.stream
        now_s = stream.time_s
        lines = []
        for head, times in zip(
            heads[:2], (result.initial_contacts, result.final_contacts), strict=True
        ):
            for t in times.tolist():
                # delay_ms: data time from the event to its detection, the stream's latency.
                delay_ms = round((now_s - t) * 1000, 1)
                lines.append(f"{head} delay_ms={delay_ms!r} {clock.time_us(t)}")
        self.events += len(lines)
        if not len(result.cycles):
            return lines
        origin_us = round(stream.t0 * 1e6)
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
                    fields.append(f"{name}={clock.time_us(at)}i")
            # The stream's own clock: the research API cuts the cycle from the stored samples
            # as the stream did, on the stream's fractional indices start_s·rate .. end_s·rate,
            # counting samples from the one stored at first_us (device clock slews and steps
            # move sample times off the nominal grid, not their count).
            first_us = clock.sample_us(int(first_sample(start, stream.rate_hz)))
            fields.append(f"origin_us={origin_us}i,rate_hz={rate_hz},first_us={first_us}i")
            fields += [
                f"{name}={v!r}" for name, v in (("start_s", start), ("end_s", end)) if v == v
            ]
            valid, reason, side = row[_AFTER_FLOATS:]
            fields.append(f"valid={'true' if valid else 'false'}")
            fields.append(f"reason={field_value('gait_cycle', 'reason', reason)}")
            if side:
                fields.append(f"side={field_value('gait_cycle', 'side', side)}")
            lines.append(f"{heads[2]} {','.join(fields)} {clock.time_us(start)}")
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
