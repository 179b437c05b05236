"""Foot and shank detector: swing of -gy, IC at the impact after the terminal swing, FC
at the push-off before it (see docs/gait.md, Methods)."""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from ._cycles import _emit_cycle, _emit_event, _emit_ic
from ._layout import (
    F_IC1,
    F_PEAKVAL,
    F_PKH,
    F_REFR,
    F_SPREV,
    F_STH,
    F_STMED,
    F_THR,
    F_ZC,
    I_INSWING,
    I_LASTIC,
    I_NPK,
    I_NST,
    I_PEAKIDX,
    I_SEG,
    I_SWSTART,
    I_ZC,
    I_ZCEND,
    IP_BREAK,
    IP_FCREF,
    IP_FCWIN,
    IP_GYROIC,
    IP_H1,
    IP_ICWIN,
    IP_IMPRISE,
    IP_JUMP,
    IP_MAXCYC,
    K_FC,
    P_ICFRAC,
    P_IMPLAT,
    P_IMPSIG,
    P_RATE,
    REASON_OK,
)
from ._pace import _adapt, _forget_pace
from ._rings import _extremum, _hist_push, _vertex


@njit(**JIT_OPTIONS)
def _detect_gyro(k_from, k_to, par, ipar, scr, st, out):
    # Foot and shank. Phase 1, swing: the signal rose above the adaptive threshold (after
    # the refractory period); it ends at the next downward zero crossing, the end of the
    # terminal swing. Phase 2: once the raw samples of the impact window after that
    # crossing have arrived (sample k + h1 always has), the IC is the foot's impact on
    # the ground in that window (`_impact`), or the crossing itself if there is none. The
    # final contact is the push-off minimum just before the swing (its threshold crossing).
    raw, _, sig1, ist, fst = st
    cap = sig1.size
    maxcyc = ipar[IP_MAXCYC]
    h1 = ipar[IP_H1]
    pos = k_from % cap
    for k in range(k_from, k_to):
        s = float(sig1[pos])
        pos = pos + 1 if pos + 1 < cap else 0
        sprev = fst[F_SPREV]
        fst[F_SPREV] = s
        if k - ist[I_LASTIC] > maxcyc:
            _forget_pace(par, ipar, ist, fst)
        phase = ist[I_INSWING]
        if phase == 0:
            if s > fst[F_THR] and k - ist[I_LASTIC] >= fst[F_REFR]:
                ist[I_INSWING] = 1
                ist[I_SWSTART] = k
                ist[I_PEAKIDX] = k
                fst[F_PEAKVAL] = s
            continue
        if phase == 2:
            zc = ist[I_ZC]
            hi = ist[I_ZCEND]
            if k + h1 < hi:
                continue
            t_ic = _impact(raw, zc, hi, fst[F_ZC], ist[I_SEG], par, ipar, scr)
            if t_ic != t_ic and ipar[IP_GYROIC] != 0:
                t_ic = _first_minimum(sig1, zc + 1, k, -0.1 * fst[F_PEAKVAL])
            if t_ic != t_ic:
                t_ic = fst[F_ZC]
            _close_stride(t_ic, par, ipar, st, out)
            continue
        if s > fst[F_PEAKVAL]:
            ist[I_PEAKIDX] = k
            fst[F_PEAKVAL] = s
        if k - ist[I_PEAKIDX] > maxcyc:
            ist[I_INSWING] = 0
            continue
        if not (s <= 0.0 and sprev > 0.0):
            continue
        ist[I_INSWING] = 2
        ist[I_ZC] = k - 1
        fst[F_ZC] = (k - 1) + sprev / (sprev - s)
        win = ipar[IP_ICWIN]
        if ist[I_NST] > 0:  # fast walking: within the first part of the stride
            win = min(win, par[P_ICFRAC] * fst[F_STMED])
        ist[I_ZCEND] = k - 1 + max(2, int(win))


@njit(**JIT_OPTIONS)
def _stands_out(jumps, n, best, sig):
    # Whether best > sig * med, med = (s[k-1] + s[k]) / 2 of the sorted jumps s, k = n // 2,
    # without sorting (a sort's unpredictable branches cost more than the rest of the
    # impact search). x -> sig * x is monotone, so with c the number of jumps that pass
    # (sig * x < best): c > k means s[k] passes, hence the median; c < k means s[k-1] does
    # not, nor the median; c == k makes s[k-1] the largest jump that passes and s[k] the
    # smallest that does not, and the median is computed from them, as a sort would.
    c = 0
    a = -np.inf
    b = np.inf
    for m in range(n):
        x = jumps[m]
        if sig * x < best:
            c += 1
            a = max(a, x)
        else:
            b = min(b, x)
    k = n // 2
    if c != k:
        return c > k
    return best > sig * (0.5 * (a + b))


@njit(**JIT_OPTIONS)
def _impact(raw, lo, hi, t_zc, seg, par, ipar, scr):
    # The foot meets the ground some time after the terminal swing ends (the zero
    # crossing at ``t_zc``): how long differs between people and speeds. The contact
    # shows as a jolt of the acceleration. Over samples (lo, hi], the jolt is the largest
    # sample-to-sample jump, if it exceeds P_IMPSIG times the median jump over the
    # window and as long before it (the late swing: the median then stays a quiet level
    # even when the impact rings over much of the window at a low rate); else there is no
    # clear impact (a soft landing, or no landing at all) and the IC stays at the
    # crossing. The impact starts in the middle of the first jump of at least half the
    # largest one; the contact precedes it by P_IMPLAT. A jump |a[i] - a[i-d]| spans
    # d = IP_JUMP samples (one for the foot and shank; 10 ms for the lower back, whose
    # smaller jolt a single sample's noise would drown at high rates).
    # ``scr``: scratch of at least 2 (hi - lo) values (the jumps in order).
    cap = raw.shape[0]
    d = ipar[IP_JUMP]
    first = max(hi - 2 * (hi - lo) + 1, seg + d)  # the jumps of samples since the reset
    n = hi - first + 1
    if hi <= lo or lo < first - 1 or n < 2:
        return np.nan
    jumps = scr[0]
    best = 0.0
    at = lo
    p = first % cap  # wrapping pointers: an integer division per sample would cost more
    q = (first - d) % cap  # than the rest of the loop
    for m in range(n):
        dx = raw[p, 0] - raw[q, 0]
        dy = raw[p, 1] - raw[q, 1]
        dz = raw[p, 2] - raw[q, 2]
        j = np.sqrt(dx * dx + dy * dy + dz * dz)
        p = p + 1 if p + 1 < cap else 0
        q = q + 1 if q + 1 < cap else 0
        if j != j:
            return np.nan  # NaN in the window: no impact to see
        jumps[m] = j
        if first + m > lo and j > best:
            best = j
            at = first + m
    if not _stands_out(jumps, n, best, par[P_IMPSIG]):
        return np.nan
    for i in range(max(lo + 1, at - ipar[IP_IMPRISE]), at + 1):
        if jumps[i - first] >= 0.5 * best:
            return max(t_zc, i - 0.5 * d - par[P_IMPLAT])
    return np.nan


@njit(**JIT_OPTIONS)
def _first_minimum(sig, lo, hi, below):
    # The first local minimum of ring ``sig`` over [lo, hi] lower than ``below``
    # (interpolated), NaN if none: the shank's heel-strike peak of gy (Salarian et al.
    # 2004), for landings too soft for an impact in the acceleration. ``below`` (a tenth
    # of the swing peak) keeps wiggles of noise around zero from passing for it.
    cap = sig.size
    for i in range(max(lo, 1), hi):
        a = float(sig[(i - 1) % cap])
        b = float(sig[i % cap])
        c = float(sig[(i + 1) % cap])
        if b < a and b <= c and b < below:
            return i + _vertex(a, b, c)
    return np.nan


@njit(**JIT_OPTIONS)
def _close_stride(t_ic, par, ipar, st, out):
    raw, _, sig1, ist, fst = st
    _, ev_fc, _, _, _, cnt, _ = out
    ist[I_INSWING] = 0
    rate = par[P_RATE]
    maxcyc = ipar[IP_MAXCYC]
    sw = ist[I_SWSTART]
    win = ipar[IP_FCWIN]
    if ist[I_NST] > 0:
        win = min(win, 0.5 * fst[F_STMED])
    lo = max(sw - int(win), ist[I_LASTIC] + 1, ist[I_SEG] + ipar[IP_H1])
    lo = max(lo, int(t_ic - ipar[IP_MAXCYC]))
    fc = _extremum(sig1, lo, sw, -1.0)
    if fc == fc:
        # The push-off ends in a dip of a few samples that smoothing flattens: take the
        # minimum of the raw signal (the maximum of gy) near the smoothed one.
        ref = ipar[IP_FCREF]
        at = int(np.floor(fc + 0.5))
        fc_raw = _extremum(raw[:, 4], max(lo, at - ref), min(sw, at + ref), 1.0)
        if fc_raw == fc_raw:
            fc = fc_raw
        _emit_event(ev_fc, cnt, K_FC, fc, rate)
    last = fst[F_IC1]
    if last == last:
        interval = t_ic - last
        if interval <= maxcyc:
            _hist_push(fst, F_STH, ist, I_NST, interval)
        if interval <= ipar[IP_BREAK]:
            fc_in = fc if fc > last else np.nan
            _emit_cycle(last, t_ic, fc_in, 0, REASON_OK, par, ipar, st, out)
    _hist_push(fst, F_PKH, ist, I_NPK, fst[F_PEAKVAL])
    _adapt(par, ipar, ist, fst)
    fst[F_IC1] = t_ic
    ist[I_LASTIC] = int(np.floor(t_ic))
    _emit_ic(out, t_ic, 0, rate)
