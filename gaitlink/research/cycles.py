"""Cutting stored gait cycles out of the stored raw samples, exactly as the ingest did.

Each `gait_cycle` point carries its stream's clock: `rate_hz`, `start_s`/`end_s` (the
bounding initial contacts, seconds from the stream's sample 0, so start_s·rate .. end_s·rate
are the cycle's fractional sample indices) and `first_us`, the device's time of the first
sample the cycle's resampling reads (stream index floor(start_s·rate), `first_sample`). The
cutter finds that stored sample by its time and counts the samples from there, as the
stream counted them: the device's clock slews and drifts against the nominal grid by many
periods over a session, so a sample's index cannot be had from its time. The samples
counted must be a period apart, give or take a frame boundary's slew (under half a period
either way); a step outside that is a lost sample or a gap, and the cycle is not cut.
`cloud.gait.normalize_cycles` (the stream's own resampler) then cuts each cycle: `segment()`
on the same samples gives the same values.

Rows written before `first_us` existed (2026-12-01) are cut as they were then: their first
sample is the stored one within half a period of its place on the stream's nominal grid
(`origin_us` + index / rate), which holds while the device clock stays within half a period
of that grid.
"""

from __future__ import annotations

import numpy as np

from gaitlink.cloud.gait import normalize_cycles
from gaitlink.cloud.gait.table import CHANNELS
from gaitlink.cloud.ingest.gait import first_sample

N_POINTS = 150
# Samples around a cycle the query fetches beyond its first sample and its closing IC.
_MARGIN_PERIODS = 3
# Steps between counted samples, in periods: a frame boundary moves by at most a quarter
# period (a slew, protocol §2.1); a lost sample makes a step of two.
_STEP_MIN, _STEP_MAX = 0.5, 1.5


def first_sample_us(origin_us, rate_hz, start_s, first_us) -> tuple[np.ndarray, np.ndarray]:
    """Each cycle's first sample: its epoch µs and how far the stored one may be from it.

    `first_us` where a row has it (exact, 0); else, for rows written before it existed, the
    nominal grid from `origin_us` (within half a period). NaN where neither is known."""
    rate = np.asarray(rate_hz, dtype=float)
    with np.errstate(invalid="ignore"):
        index = np.floor(np.asarray(start_s, dtype=float) * rate)
    nominal = np.asarray(origin_us, dtype=float) + np.round(index * 1e6 / rate)
    exact = np.isfinite(np.asarray(first_us, dtype=float))
    at = np.where(exact, np.asarray(first_us, dtype=float), nominal)
    return at, np.where(exact, 0.0, 0.5e6 / rate)


def raw_window_us(first_us, tolerance_us, end_us, rate_hz) -> tuple[int, int]:
    """[lo, hi] epoch µs that holds every sample the cycles need (arrays of cycles)."""
    margin_us = _MARGIN_PERIODS * 1e6 / np.asarray(rate_hz, dtype=float)
    lo = np.asarray(first_us, dtype=float) - tolerance_us - margin_us
    hi = np.asarray(end_us, dtype=float) + margin_us
    return int(np.floor(np.nanmin(lo))), int(np.ceil(np.nanmax(hi)))


def cut(
    times_us: np.ndarray,
    samples: np.ndarray,
    rate_hz: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    first_us: np.ndarray,
    tolerance_us: np.ndarray | float = 0.0,
    sides: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(n_cycles, 150, 6) normalised cycles and a bool per cycle: whether it could be cut.

    ``first_us``/``tolerance_us``: each cycle's first sample (`first_sample_us`).
    ``sides``: each cycle's `side`; left lower-back cycles are mirrored (ipsi/contra), as
    `segment` mirrors them.

    ``times_us``/``samples``: the device's raw samples (sorted by time) around the cycles.
    A cycle whose samples are not all there (lost, or cut by a gap) is NaN and False.
    """
    n = np.size(start_s)
    out = np.full((n, N_POINTS, len(CHANNELS)), np.nan)
    ok = np.zeros(n, dtype=bool)
    rate_hz, start_s, end_s, first_us = (
        np.asarray(a, dtype=float) for a in (rate_hz, start_s, end_s, first_us)
    )
    tolerance_us = np.broadcast_to(np.asarray(tolerance_us, dtype=float), (n,))
    usable = np.isfinite(np.column_stack((rate_hz, start_s, end_s, first_us))).all(axis=1)
    mine = np.flatnonzero(usable)
    n_raw = len(times_us)
    if not mine.size or not n_raw:
        return out, ok
    rate = rate_hz[mine]
    # Bounds stay in stream indices (as in the stream): the arithmetic, and so every bit of
    # the result, is the stream's whatever the window.
    starts, ends = start_s[mine] * rate, end_s[mine] * rate
    first = first_sample(start_s[mine], rate)
    count = np.floor(ends).astype(np.int64) + 2 - first  # samples first .. floor(end) + 1
    # Each cycle's first stored sample: the first at or after its time less the tolerance.
    at, tol = first_us[mine], tolerance_us[mine]
    p = np.minimum(np.searchsorted(times_us, at - tol), n_raw - 1)
    whole = (p + count <= n_raw) & (times_us[p] >= at - tol) & (times_us[p] <= at + tol)
    last = np.minimum(p + count, n_raw) - 1
    # A device without a gyroscope stores no gx..gz: those channels stay NaN, the others
    # are cut. Missing values and bad steps are counted by prefix sums, so each cycle's
    # check is two lookups.
    measured = np.isfinite(samples).any(axis=0)
    missing = np.concatenate(([0], np.cumsum(~np.isfinite(samples[:, measured]).all(axis=1))))
    whole &= missing[last + 1] == missing[p]
    step = np.diff(times_us)
    for r in np.unique(rate):
        period_us = 1e6 / r
        bad = (step < _STEP_MIN * period_us) | (step > _STEP_MAX * period_us)
        bad_steps = np.concatenate(([0], np.cumsum(bad)))
        of_rate = rate == r
        whole[of_rate] &= bad_steps[last[of_rate]] == bad_steps[p[of_rate]]
    # Cycles whose first sample sits at the same place in `samples` relative to its stream
    # index (all of one stream without a sample lost between) are resampled in one call.
    shift = p - first
    left = np.zeros(n, dtype=bool) if sides is None else np.asarray(sides) == "left"
    for d in np.unique(shift[whole]):
        these = whole & (shift == d)
        out[mine[these]] = normalize_cycles(
            samples, starts[these], ends[these], first=-int(d),
            sides=np.where(left[mine[these]], "left", ""),
        )  # fmt: skip
        ok[mine[these]] = True
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
