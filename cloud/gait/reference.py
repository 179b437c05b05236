"""Slow, obvious reference of the segmentation: the same method in plain numpy/Python.

It reads as the specification of what the numba kernels do, with whole arrays instead of
rings: filters with ``np.convolve``, the event rules as a plain loop over the smoothed
signal, features with numpy reductions and the 150-point normalisation with ``np.interp``.
The tests check that the kernels agree with it. No gaps (the kernels' gap handling is a
reset, tested on its own).
"""

from __future__ import annotations

import math

import numpy as np

from . import _layout as k
from .methods import make_plan
from .stream import GaitResult
from .table import CYCLE_DTYPE, FEATURE_COLUMNS, REASONS, SIDE_NAMES, SIDES


def _smooth(x: np.ndarray, w: np.ndarray, h_out: int, dtype=np.float32) -> np.ndarray:
    """Centred FIR, stored as float32 like the kernels' rings; NaN where undefined.

    Output i is the filter centred on sample i, defined for h_out <= i < n - h_out.
    """
    n = x.size
    h = w.size // 2
    out = np.full(n, np.nan, dtype=dtype)
    if n > 2 * h_out:
        full = np.convolve(x, w[::-1], mode="valid")  # centred on samples h..n-1-h
        out[h_out : n - h_out] = full[h_out - h : n - h_out - h]
    return out


def _median(values: list[float]) -> float:
    return float(np.median(values[-k.N_HIST :]))


def _vertex(a: float, b: float, c: float) -> float:
    den = a - 2.0 * b + c
    if den == 0.0 or not math.isfinite(den):
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (a - c) / den))


def _extremum(sig: np.ndarray, lo: int, hi: int, sign: float) -> float:
    if hi < lo:
        return math.nan
    seg = sign * sig[lo : hi + 1].astype(np.float64)
    if np.all(np.isnan(seg)):
        return math.nan
    i = lo + int(np.nanargmax(seg))
    if lo < i < hi:
        return i + _vertex(float(sig[i - 1]), float(sig[i]), float(sig[i + 1]))
    return float(i)


class _Pace:
    """Recent peak heights and IC intervals -> adaptive threshold and refractory period."""

    def __init__(self, par: np.ndarray, ipar: np.ndarray) -> None:
        self.par, self.ipar = par, ipar
        self.peaks: list[float] = []
        self.intervals: list[float] = []
        self._update()

    def _update(self) -> None:
        par, ipar = self.par, self.ipar
        self.thr = par[k.P_FLOOR]
        if self.peaks:
            self.thr = max(self.thr, par[k.P_THR_FRAC] * _median(self.peaks))
        self.interval = _median(self.intervals) if self.intervals else math.nan
        self.refr = ipar[k.IP_REFR_MIN]
        if self.intervals:
            self.refr = max(self.refr, par[k.P_REFR_FRAC] * self.interval)

    def add(self, peak: float, interval: float) -> None:
        self.peaks.append(peak)
        if interval <= self.ipar[k.IP_MAXCYC]:
            self.intervals.append(interval)
        self._update()

    def forget(self) -> None:
        if self.peaks or self.intervals:
            self.peaks, self.intervals = [], []
            self._update()


class _Cycles:
    """Cycle rows, validity and normalisation, as the kernels' `_emit_cycle`."""

    def __init__(self, x: np.ndarray, q: np.ndarray, par: np.ndarray, ipar: np.ndarray) -> None:
        self.x, self.q, self.par, self.ipar = x, q, par, ipar
        self.rows: list[tuple] = []
        self.normalized: list[np.ndarray] = []
        self.durations: list[float] = []

    def emit(self, start: float, end: float, fc: float, side: int) -> None:
        par, ipar, x = self.par, self.ipar, self.x
        rate = par[k.P_RATE]
        dur = (end - start) / rate
        stance = 100.0 * (fc - start) / (end - start) if start < fc < end else math.nan
        i0, i1 = math.ceil(start), math.floor(end)
        available = i0 <= i1 and end - start <= ipar[k.IP_MAXCYC]
        feats = np.full(len(FEATURE_COLUMNS), np.nan)
        has_nan = flagged = False
        n_meas = ipar[k.IP_NCH]  # accelerometer only: the gyroscope columns are NaN
        if available:
            seg = x[i0 : i1 + 1]
            # The normalisation interpolates from the samples either side as well.
            has_nan = not np.isfinite(x[i0 - 1 : i1 + 2, :n_meas]).all()
            flagged = bool(np.any(self.q[i0 : i1 + 2] != 0))
            if not has_nan:
                hi, lo = seg.max(axis=0), seg.min(axis=0)
                peak = np.where(np.abs(hi) >= np.abs(lo), hi, lo)  # the signed largest |x|
                per_channel = np.stack([hi - lo, peak, seg.mean(axis=0)], axis=1)
                feats = per_channel.ravel()
                feats[3 * n_meas :] = np.nan
        if has_nan:
            reason = k.REASON_NAN
        elif flagged:
            reason = k.REASON_DEVICE
        elif not available or not (par[k.P_MINDUR] <= dur <= par[k.P_MAXDUR]):
            reason = k.REASON_DURATION
        elif (
            len(self.durations) >= 3
            and abs(dur - (med := _median(self.durations))) > par[k.P_OUTLIER] * med
        ):
            reason = k.REASON_OUTLIER
        else:
            reason = k.REASON_OK
        if reason in (k.REASON_OK, k.REASON_OUTLIER):
            self.durations.append(dur)
        times = (start / rate, end / rate, fc / rate, dur, 120.0 / dur, stance, 100.0 - stance)
        self.rows.append((*times, *feats, reason == k.REASON_OK, REASONS[reason], SIDES[side]))
        if reason == k.REASON_OK:
            phase = start + (end - start) * (np.arange(k.N_POINTS) / (k.N_POINTS - 1))
            grid = np.arange(x.shape[0])
            cycle = np.stack([np.interp(phase, grid, x[:, c]) for c in range(6)], 1)
            if side == k.SIDE_LEFT and ipar[k.IP_METHOD] == k.METHOD_ACC:
                cycle[:, list(k.MIRRORED)] *= -1.0  # ipsi/contra: left cycles mirrored
            self.normalized.append(cycle)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        norm = np.array(self.normalized).reshape(-1, k.N_POINTS, k.N_CH)
        return np.array(self.rows, dtype=CYCLE_DTYPE), norm


def _impact(
    x: np.ndarray, lo: int, hi: int, t_zc: float, ipar: np.ndarray, par: np.ndarray
) -> float:
    """The contact after the terminal swing: the start of the largest jolt of the
    acceleration in (lo, hi] less the impact latency, if the jolt stands out from the
    median jump over that window and as long before it; else NaN. A jump spans
    ``IP_JUMP`` samples."""
    lag = ipar[k.IP_JUMP]
    first = max(hi - 2 * (hi - lo) + 1, lag)  # the jumps of samples since the start
    if hi <= lo or lo < first - 1:
        return math.nan
    a = x[first - lag : hi + 1, :3]
    d = a[lag:] - a[:-lag]
    jerk = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])
    if np.isnan(jerk).any():
        return math.nan
    inside = jerk[lo + 1 - first :]
    best = float(inside.max())
    if not best > par[k.P_IMPSIG] * float(np.median(jerk)):
        return math.nan
    at = lo + 1 + int(np.argmax(inside))  # the first largest jump
    a = max(lo + 1, at - ipar[k.IP_IMPRISE])
    onset = a + int(np.argmax(jerk[a - first : at - first + 1] >= 0.5 * best))
    return max(t_zc, onset - 0.5 * lag - par[k.P_IMPLAT])


def _first_minimum(s: np.ndarray, lo: int, hi: int, below: float) -> float:
    """The first local minimum of s over [lo, hi] lower than ``below`` (interpolated)."""
    for i in range(max(lo, 1), hi):
        a, b, c = float(s[i - 1]), float(s[i]), float(s[i + 1])
        if b < a and b <= c and b < below:
            return i + _vertex(a, b, c)
    return math.nan


def _gyro_events(x, par, ipar, w1, cycles: _Cycles):
    """Foot / shank: swing episodes of -gy; the IC is the impact in the acceleration
    after the zero crossing that ends the swing (or the crossing, without an impact); FC
    at the push-off minimum just before the swing."""
    n = x.shape[0]
    h1 = ipar[k.IP_H1]
    s = _smooth(-x[:, 4], w1, h1)
    maxcyc = ipar[k.IP_MAXCYC]
    ics, fcs = [], []
    pace = _Pace(par, ipar)
    last_ic, last_idx = math.nan, k.NO_IC
    phase, sw, pk, pk_val, zc, zc_idx, hi = 0, 0, 0, 0.0, 0.0, 0, 0
    for i in range(h1, n - h1):
        v, prev = float(s[i]), float(s[i - 1]) if i > h1 else math.nan
        if i - last_idx > maxcyc:
            pace.forget()
        if phase == 0:
            if v > pace.thr and i - last_idx >= pace.refr:
                phase, sw, pk, pk_val = 1, i, i, v
            continue
        t_ic = math.nan
        if phase == 2:
            if i + h1 < hi:
                continue
            t_ic = _impact(x, zc_idx, hi, zc, ipar, par)
            if math.isnan(t_ic) and ipar[k.IP_GYROIC] > 0:
                t_ic = _first_minimum(s, zc_idx + 1, i, -0.1 * pk_val)  # heel-strike peak
            if math.isnan(t_ic):
                t_ic = zc
        else:
            if v > pk_val:
                pk, pk_val = i, v
            if i - pk > maxcyc:
                phase = 0
                continue
            if not (v <= 0.0 and prev > 0.0):
                continue
            phase, zc, zc_idx = 2, (i - 1) + prev / (prev - v), i - 1
            win = ipar[k.IP_ICWIN]
            if pace.intervals:  # fast walking: within the first part of the stride
                win = min(win, par[k.P_ICFRAC] * pace.interval)
            hi = zc_idx + max(2, int(win))
            continue
        # Close the stride at t_ic.
        phase = 0
        win = ipar[k.IP_FCWIN]
        if pace.intervals:
            win = min(win, 0.5 * pace.interval)
        lo = max(sw - int(win), last_idx + 1, h1, int(t_ic - maxcyc))
        fc = _extremum(s, lo, sw, -1.0)
        if not math.isnan(fc):
            at, ref = math.floor(fc + 0.5), ipar[k.IP_FCREF]
            fc_raw = _extremum(x[:, 4], max(lo, at - ref), min(sw, at + ref), 1.0)
            fc = fc if math.isnan(fc_raw) else fc_raw
            fcs.append(fc)
        interval = t_ic - last_ic  # NaN for the first IC
        if interval <= ipar[k.IP_BREAK]:
            cycles.emit(last_ic, t_ic, fc if fc > last_ic else math.nan, 0)
        pace.add(pk_val, interval)
        last_ic, last_idx = t_ic, math.floor(t_ic)
        ics.append(t_ic)
    return ics, fcs


def _vertical(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Projection of accelerations ``a`` (..., 3) on the gravity estimate ``g`` (3,)."""
    norm = math.sqrt(float(g @ g)) if np.all(np.isfinite(g)) else math.nan
    if not norm > 0.0:
        return np.full(a.shape[:-1], np.nan)
    return (a[..., 0] * g[0] + a[..., 1] * g[1] + a[..., 2] * g[2]) / norm


def _mean(v: np.ndarray) -> float:
    return sum(v.tolist()) / v.size if v.size else math.nan  # in order, as the kernels


def _side(x: np.ndarray, t: float, k_now: int, ipar: np.ndarray) -> int:
    """Left (1) if ay over the half-step before the IC exceeds ay just after it, else 2."""
    win, gap, i = ipar[k.IP_SIDEWIN], ipar[k.IP_SIDEGAP], math.floor(t)
    d = _mean(x[i - win : i + 1, 1]) - _mean(x[i + gap : min(i + win, k_now) + 1, 1])
    return 1 if d > 0 else 2 if d < 0 else 0


def _pitching(x: np.ndarray, t: float, k_now: int, par: np.ndarray, ipar: np.ndarray) -> bool:
    """The trunk pitched by more than the posture limit around IC ``t``: |integral of gy|
    from IP_POSTBACK samples before it to IP_POSTFWD after it (at most to ``k_now``)."""
    if not par[k.P_POSTURE] > 0.0:
        return False
    i = math.floor(t)
    a, b = max(i - ipar[k.IP_POSTBACK], 0), min(i + ipar[k.IP_POSTFWD], k_now)
    return b >= a and abs(_mean(x[a : b + 1, 4])) * (b - a + 1) > par[k.P_POSTURE]


def _acc_events(x, par, ipar, w1, w2, cycles: _Cycles):
    """Lower back: peaks of the smoothed vertical acceleration (projected on a slow
    gravity estimate) over a slow baseline; the IC is the heel strike's jolt before each
    peak (the foot's `_impact`), else the steepest rise before it (no IC while the trunk
    pitches: a postural transition),
    the FC the steepest fall after the next IC; the side from ay either side of the IC."""
    n = x.shape[0]
    h1 = ipar[k.IP_H1]
    acc = np.stack([_smooth(x[:, c], w1, h1, np.float64) for c in range(3)], axis=1)
    alpha = par[k.P_BASE_ALPHA]
    grav = np.full(3, np.nan)
    maxcyc = ipar[k.IP_MAXCYC]
    ics, fcs, sides = [], [], []
    pace = _Pace(par, ipar)
    ic1 = ic2 = math.nan
    side1 = side2 = 0
    last_idx = k.NO_IC
    last_cand = held = math.nan  # the last step candidate; one waiting for a next step
    held_side = 0
    base = math.nan
    pend, pend_val, pend_h = -1, 0.0, 0.0

    h2 = w2.size // 2

    def steepest(lo, hi, sign):
        # Derivative of the vertical: the samples projected on the gravity estimate of
        # the moment, then filtered (both linear: the filtered axes, projected).
        d = np.full(n, np.nan, dtype=np.float32)
        if hi >= lo:
            v = _vertical(grav, x[lo - h2 : hi + h2 + 1, :3])
            d[lo : hi + 1] = np.convolve(v, w2[::-1], mode="valid")
        return _extremum(d, lo, hi, sign)

    def accept(t, side, bout_start):
        """An IC of walking: its FC, the cycle it closes; a bout's first closes nothing."""
        nonlocal ic1, ic2, side1, side2
        if bout_start or (not math.isnan(ic1) and t - ic1 > maxcyc):
            ic1 = ic2 = math.nan
            side1 = side2 = 0
        fc = math.nan
        if not math.isnan(ic1):
            fc = steepest(math.floor(ic1) + 1, math.floor(ic1 + 0.5 * (t - ic1)), -1.0)
            if not math.isnan(fc):
                fcs.append(fc)
        if not math.isnan(ic2) and t - ic2 <= ipar[k.IP_BREAK]:
            cycles.emit(ic2, t, fc, side2)
        ic2, ic1 = ic1, t
        side2, side1 = side1, side
        ics.append(t)
        sides.append(side)

    def confirm(p, i):
        """A step candidate; it becomes an IC if another lies close before or after it."""
        nonlocal last_idx, last_cand, held, held_side
        # Risen as high above the trough before it as above the baseline, else no step.
        window = vs[max(h1, p - ipar[k.IP_TROUGH]) : p + 1]
        trough = min((u for u in window.tolist() if not math.isnan(u)), default=math.inf)
        if not vs[p] - trough > pace.thr:
            return
        lo = max(p - ipar[k.IP_ICREF], h1)
        t = _impact(x, lo, p, float(lo), ipar, par)  # the heel strike's jolt, as the foot's
        t = steepest(lo, p, 1.0) if math.isnan(t) else t  # else the steepest rise
        t = float(p) if math.isnan(t) else t
        side = _side(x, t, i + h1, ipar)
        pace.add(pend_h, t - last_cand)
        last_idx = p
        if _pitching(x, t, i + h1, par, ipar):  # a postural transition: no IC, no bout start
            held, last_cand = math.nan, t
            return
        if not math.isnan(held):
            if t - held <= par[k.P_GATENEXT]:
                accept(held, held_side, True)
            held = math.nan
        if t - last_cand <= par[k.P_GATEPREV]:
            accept(t, side, False)
        else:
            held, held_side = t, side
        last_cand = t

    vs = np.full(n, np.nan)  # the vertical, as far as computed
    before = prev = math.nan  # y1 two samples back, one sample back
    for i in range(h1, n - h1):
        if np.all(np.isfinite(acc[i])):
            grav = acc[i].copy() if math.isnan(grav[0]) else grav + alpha * (acc[i] - grav)
        v = float(np.float32(_vertical(grav, acc[i])))
        if i - last_idx > maxcyc:
            pace.forget()
        if pend >= 0 and i - pend > ipar[k.IP_CONFIRM]:
            p, pend = pend, -1
            confirm(p, i)
        vs[i] = v
        if before < prev and prev >= v and not math.isnan(base):
            height = prev - base
            if (
                height > pace.thr
                and (i - 1) - last_idx >= pace.refr
                and (pend < 0 or prev > pend_val)
            ):
                pend, pend_val, pend_h = i - 1, prev, height
        if math.isfinite(v):
            base = v if math.isnan(base) else base + alpha * (v - base)
        before, prev = prev, v
    return ics, fcs, sides


def segment_reference(
    samples: np.ndarray, rate_hz: float, placement: str, quality: np.ndarray | None = None
) -> GaitResult:
    """As `cloud.gait.segment` (without gaps), written for reading rather than speed."""
    x = np.asarray(samples, dtype=np.float64)
    plan = make_plan(placement, rate_hz, x.shape[1] if x.ndim == 2 else 6)
    if x.ndim == 2 and x.shape[1] == 3:
        x = np.concatenate((x, np.full((len(x), 3), np.nan)), axis=1)
    q = np.zeros(len(x), np.uint16) if quality is None else np.asarray(quality, np.uint16)
    cycles = _Cycles(x, q, plan.par, plan.ipar)
    if plan.ipar[k.IP_METHOD] == k.METHOD_GYRO:
        ics, fcs = _gyro_events(x, plan.par, plan.ipar, plan.w1, cycles)
        sides = [0] * len(ics)
    else:
        ics, fcs, sides = _acc_events(x, plan.par, plan.ipar, plan.w1, plan.w2, cycles)
    table, norm = cycles.table()
    return GaitResult(
        initial_contacts=np.array(ics, dtype=np.float64) / plan.rate_hz,
        final_contacts=np.array(fcs, dtype=np.float64) / plan.rate_hz,
        cycles=table,
        normalized=norm,
        ic_sides=SIDE_NAMES[np.array(sides, dtype=np.int64)],
    )
