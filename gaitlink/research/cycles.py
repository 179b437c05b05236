"""Cutting stored gait cycles out of the stored raw samples, exactly as the ingest did.

Each `gait_cycle` point carries its stream's clock: `origin_us` (the stream's time zero),
`rate_hz`, and `start_s`/`end_s` (the bounding initial contacts, seconds from the origin).
The stream counts samples, not device time: a sample's index is its offset from the origin
in periods, rounded, because the stream takes any device clock step under half a sample as
contiguous and a larger one forward as a gap of that many samples. So the cycle spans the
fractional indices start_s·rate .. end_s·rate, and `cloud.gait.normalize_cycles` (the
stream's own resampler) cuts it from the samples at those indices: `segment()` on the same
samples gives the same values.
"""

from __future__ import annotations

import numpy as np

from gaitlink.cloud.gait import normalize_cycles
from gaitlink.cloud.gait.table import CHANNELS

N_POINTS = 150
# Samples around a cycle the resampler may read, and a device clock step's worst offset.
_MARGIN_PERIODS = 3


def raw_window_us(origin_us, rate_hz, start_s, end_s) -> tuple[int, int]:
    """[lo, hi] epoch µs that holds every sample the cycles need (arrays of cycles)."""
    period_us = 1e6 / rate_hz
    lo = origin_us + start_s * 1e6 - _MARGIN_PERIODS * period_us
    hi = origin_us + end_s * 1e6 + _MARGIN_PERIODS * period_us
    return int(np.floor(np.nanmin(lo))), int(np.ceil(np.nanmax(hi)))


def cut(
    times_us: np.ndarray,
    samples: np.ndarray,
    origin_us: np.ndarray,
    rate_hz: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    sides: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(n_cycles, 150, 6) normalised cycles and a bool per cycle: whether it could be cut.

    ``sides``: each cycle's `side`; left lower-back cycles are mirrored (ipsi/contra), as
    `segment` mirrors them.

    ``times_us``/``samples``: the device's raw samples (sorted by time) around the cycles.
    A cycle whose samples are not all there (lost, or cut by a gap) is NaN and False.
    """
    n = start_s.size
    out = np.full((n, N_POINTS, len(CHANNELS)), np.nan)
    ok = np.zeros(n, dtype=bool)
    usable = np.isfinite(start_s) & np.isfinite(end_s) & np.isfinite(rate_hz)
    measured = np.isfinite(samples).any(axis=0) if len(samples) else np.ones(len(CHANNELS), bool)
    # One stream (origin, rate) at a time: indices only mean something within a stream.
    streams = {(int(o), float(r)) for o, r, u in zip(origin_us, rate_hz, usable, strict=True) if u}
    for origin, rate in sorted(streams):
        mine = np.flatnonzero(usable & (origin_us == origin) & (rate_hz == rate))
        index = np.rint((times_us - origin) * (rate / 1e6)).astype(np.int64)
        first = int(np.floor(start_s[mine].min() * rate)) - 1
        last = int(np.floor(end_s[mine].max() * rate)) + 2
        inside = (index >= first) & (index <= last)
        dense = np.full((last - first + 1, len(CHANNELS)), np.nan)
        seen = np.zeros(last - first + 1, dtype=np.int64)
        np.add.at(seen, index[inside] - first, 1)
        dense[index[inside] - first] = samples[inside]
        # A device without a gyroscope stores no gx..gz: those channels stay NaN, the
        # others are cut. A clash (two samples on one index) is not data.
        present = (seen == 1) & np.isfinite(dense[:, measured]).all(axis=1)
        # Bounds stay in stream indices (as in the stream), the window says where it starts:
        # the arithmetic, and so every bit of the result, is the same whatever the window.
        starts, ends = start_s[mine] * rate, end_s[mine] * rate
        lo = np.floor(starts).astype(np.int64) - first
        hi = np.floor(ends).astype(np.int64) + 1 - first
        complete = np.array(
            [present[a : b + 1].all() for a, b in zip(lo, hi, strict=True)], dtype=bool
        )
        if complete.any():
            out[mine[complete]] = normalize_cycles(
                dense, starts[complete], ends[complete], first=first,
                sides=None if sides is None else np.asarray(sides)[mine[complete]],
            )  # fmt: skip
            ok[mine[complete]] = True
    return out, ok


def across_cycles(func, data: np.ndarray) -> np.ndarray:
    """``func(…, axis=0)`` over the cycles, channel by channel: (150, n_channels).

    Each channel uses the cycles it has whole (a NaN cycle, or a channel the device lacks,
    drops out of that channel only); a channel no cycle has is NaN.
    """
    out = np.full(data.shape[1:], np.nan)
    for c in range(data.shape[2]):
        whole = np.isfinite(data[:, :, c]).all(axis=1)
        if whole.any():
            out[:, c] = func(data[whole, :, c], axis=0)
    return out
