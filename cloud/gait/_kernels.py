"""Numba kernels of the gait segmentation: one streaming state machine for every placement.

Everything here takes arrays, scalars and tuples of arrays only. The public layer
(`stream.py`) validates input, allocates outputs and owns the state arrays; `segment()`
runs the same kernel over a whole recording in one push, so batch and streaming share one
code path.

Times inside the kernels are in samples since the stream started (fractional for
interpolated events); the public layer converts them to seconds.

State lives in fixed-size arrays owned by one stream, passed as the tuple
``st = (raw, qual, sig1, ist, fst)``:
- rings of ``cap`` samples: raw samples (cap, 6), a flag per sample (1 if the device set
  any quality bit) and, for the foot and shank, the smoothed detection signal (``sig1``,
  float32; the push-off search looks back into it). The lower back keeps no signal ring:
  its detector reads the smoothed signal once, in order, straight from the filter output,
  and the derivative-of-Gaussian it needs near each step is computed from ``raw`` on
  demand (`_dog_extremum`), only in the few windows the IC and FC searches look at;
- ``ist`` (int64) and ``fst`` (float64) scalars, indexed by the ``I_*`` / ``F_*`` names.

Outputs of one push: ``out = (ev_ic, ev_fc, rows_f, rows_i, norm, cnt, ev_side)``: event
times, cycle rows (float and int columns), normalised cycles, the counters ``K_*`` and the
side of each IC (0 unknown or the sensor's own foot, 1 left, 2 right).
"""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS

N_CH = 6
N_POINTS = 150

METHOD_GYRO = 0  # foot, shank: sagittal angular velocity
METHOD_ACC = 1  # lower back: vertical acceleration (McCamley)

# Parameters (float64 array ``par``); durations in samples unless named otherwise.
P_RATE = 0
P_H1 = 1  # half-width of the first smoothing filter
P_H2 = 2  # half-width of the derivative filter (lower back; at most P_H1)
P_MAXCYC = 3  # longest valid cycle (2.5 s)
P_REFR_MIN = 4  # shortest interval between two initial contacts
P_REFR_FRAC = 5  # refractory period as a fraction of the median recent interval
P_FLOOR = 6  # absolute floor of the adaptive threshold
P_THR_FRAC = 7  # adaptive threshold as a fraction of the median recent peak
P_CONFIRM = 8  # samples a lower-back peak must stay the highest before it counts
P_FCWIN = 9  # foot/shank: how far before the swing onset the push-off minimum may lie
P_METHOD = 10
P_MINDUR = 11  # seconds
P_MAXDUR = 12  # seconds
P_OUTLIER = 13  # relative deviation from the running median duration
P_BASE_ALPHA = 14  # lower back: weight of the exponential baseline
P_BREAK = 15  # intervals longer than this end a walking bout: no cycle across them
P_BLOCK = 16  # samples written to the rings per step (the rings hold history + one block)
P_ICWIN = 17  # foot/shank: window after the zero crossing searched for the impact
P_ICREF = 18  # lower back: window before the loading peak holding the steepest rise
P_FCREF = 19  # foot/shank: half-window around the smoothed push-off minimum for the raw one
P_SIDEWIN = 20  # lower back: window either side of an IC over which ay is averaged
P_SIDEGAP = 21  # lower back: start of the after-IC window, samples after the IC
P_IMPLAT = 22  # foot/shank: impact latency after the contact, samples (fractional)
P_IMPSIG = 23  # foot/shank: an impact's jerk exceeds this many times the median jerk
P_GYROIC = 24  # shank: without an impact, the IC is the first minimum of -gy (1) or the
# zero crossing (0: foot, whose first minimum after it is the later foot slap)
P_IMPRISE = 25  # foot/shank: longest rise of an impact to its largest jump
P_ICFRAC = 26  # foot/shank: impact search at most this fraction of the median stride
P_NCH = 27  # channels measured: 6, or 3 (accelerometer only; gyroscope columns NaN)
P_GATEPREV = 28  # lower back: a step with another this soon before it is walking
P_GATENEXT = 29  # ... or with another this soon after it (within the 1 s look-ahead)
N_PAR = 30

# Integer state.
I_N = 0  # samples seen (stream time, gaps included)
I_SEG = 1  # first sample after the last reset
I_K1 = 2  # next index of sig1 to compute
I_KD = 3  # next index the event detector looks at
I_INSWING = 4
I_PEAKIDX = 5
I_LASTIC = 6  # sample of the last initial contact (refractory period)
I_PEND = 7  # lower back: pending peak, -1 if none
I_NPK = 8  # counts of the three histories
I_NST = 9
I_NDU = 10
I_SIDE1 = 11  # lower back: side of the last IC (0 unknown, 1 left, 2 right)
I_SIDE2 = 12  # ... of the IC before it
I_ZC = 13  # foot/shank: sample of the zero crossing ending the swing
I_SWSTART = 14  # foot/shank: sample where the swing rose above the threshold
I_ZCEND = 15  # foot/shank: last sample of the impact search after the zero crossing
I_HELDSIDE = 16  # lower back: side of the held step candidate
N_IST = 17

# Float state.
F_SPREV = 0
F_PEAKVAL = 1
F_IC1 = 2  # last initial contact (samples), NaN if none
F_IC2 = 3  # the one before (lower back)
F_BASE = 4
F_PENDVAL = 5
F_PENDH = 6
F_YM1 = 7
F_YM2 = 8
F_ZC = 9  # foot/shank: the zero crossing (samples)
F_THR = 10  # adaptive threshold, refractory period and median interval, updated by
F_REFR = 11  # `_adapt` whenever the histories change (not per sample)
F_STMED = 12
N_HIST = 5
F_PKH = 13  # recent swing-peak heights
F_STH = F_PKH + N_HIST  # recent intervals between ICs (samples)
F_DUH = F_STH + N_HIST  # recent cycle durations (s)
F_SORT = F_DUH + N_HIST  # scratch of `_hist_median` (no allocation per event)
F_GRAV = F_SORT + N_HIST  # lower back: gravity estimate (x, y, z), slow mean of smoothed acc
F_CAND = F_GRAV + 3  # lower back: time of the last step candidate (samples)
F_HELD = F_CAND + 1  # lower back: a candidate waiting for a next step, NaN if none
N_FST = F_HELD + 1

# Output counters.
K_IC = 0
K_FC = 1
K_ROW = 2
K_NORM = 3
K_OVERFLOW = 4
N_CNT = 5

# Cycle rows: float columns, then per channel rom, peak, mean.
C_START = 0
C_END = 1
C_FC = 2
C_DUR = 3
C_CAD = 4
C_STANCE = 5
C_SWING = 6
C_FEAT = 7
N_COLS = C_FEAT + 3 * N_CH
R_VALID = 0
R_REASON = 1
R_SIDE = 2

REASON_OK = 0
REASON_DURATION = 1
REASON_OUTLIER = 2
REASON_GAP = 3
REASON_DEVICE = 4
REASON_NAN = 5

SIDE_LEFT = 1  # side codes: 0 unknown / the sensor's own foot, 1 left, 2 right
SIDE_RIGHT = 2
MIRRORED = (1, 3, 5)  # ay, gx, gz: what a mirror in the sagittal plane negates

NO_IC = -(1 << 40)
_PHASE = np.arange(N_POINTS) / (N_POINTS - 1)  # normalised phase, 0..1


@njit(**JIT_OPTIONS)
def _hist_push(fst, off, ist, ci, v):
    fst[off + ist[ci] % N_HIST] = v
    ist[ci] += 1


@njit(**JIT_OPTIONS)
def _hist_median(fst, off, n):
    # Median of the (at most five) values: insertion sort into the F_SORT slots of fst
    # (np.sort would pull a general sort into every kernel's compile; a fresh array per
    # call would be an allocation per event).
    k = min(n, N_HIST)
    vals = fst[F_SORT : F_SORT + N_HIST]
    for i in range(k):
        v = fst[off + i]
        j = i
        while j > 0 and vals[j - 1] > v:
            vals[j] = vals[j - 1]
            j -= 1
        vals[j] = v
    if k % 2 == 1:
        return vals[k // 2]
    return 0.5 * (vals[k // 2 - 1] + vals[k // 2])


@njit(**JIT_OPTIONS)
def _reset(seg, par, ist, fst):
    n = ist[I_N]
    ist[:] = 0
    ist[I_N] = n
    h1 = int(par[P_H1])
    ist[I_SEG] = seg
    ist[I_K1] = seg + h1
    ist[I_KD] = seg + h1
    ist[I_LASTIC] = NO_IC
    ist[I_PEND] = -1
    fst[:] = np.nan
    _adapt(par, ist, fst)


@njit(**JIT_OPTIONS)
def _adapt(par, ist, fst):
    # Threshold from the recent peaks, refractory period from the recent intervals.
    thr = par[P_FLOOR]
    if ist[I_NPK] > 0:
        thr = max(thr, par[P_THR_FRAC] * _hist_median(fst, F_PKH, ist[I_NPK]))
    fst[F_THR] = thr
    refr = par[P_REFR_MIN]
    fst[F_STMED] = np.nan
    if ist[I_NST] > 0:
        fst[F_STMED] = _hist_median(fst, F_STH, ist[I_NST])
        refr = max(refr, par[P_REFR_FRAC] * fst[F_STMED])
    fst[F_REFR] = refr


@njit(**JIT_OPTIONS)
def _forget_pace(par, ist, fst):
    # After a pause longer than a cycle, the pace of the previous bout says nothing.
    if ist[I_NPK] + ist[I_NST] > 0:
        ist[I_NPK] = 0
        ist[I_NST] = 0
        _adapt(par, ist, fst)


@njit(**JIT_OPTIONS)
def _fir(ext, w, n_out, y):
    # y[:n_out] = centred FIR of ext. Tap-major so LLVM vectorises over outputs without
    # reordering any single sum: every output is summed in tap order, whatever the chunking.
    y[:n_out] = 0.0
    for j in range(w.size):
        wj = w[j]
        for k in range(n_out):
            y[k] += wj * ext[k + j]


@njit(**JIT_OPTIONS)
def _vertex(a, b, c):
    # Offset of the extremum of the parabola through three equally spaced points.
    den = a - 2.0 * b + c
    if den == 0.0 or not np.isfinite(den):
        return 0.0
    off = 0.5 * (a - c) / den
    return min(0.5, max(-0.5, off))


@njit(**JIT_OPTIONS)
def _extremum(sig, lo, hi, sign):
    # Index (interpolated) of the minimum (sign=-1) or maximum (sign=+1) of ring ``sig``
    # over [lo, hi]; NaN when the window is empty or all NaN.
    cap = sig.size
    best = -np.inf
    bi = -1
    p = lo % cap  # one modulo, then a wrapping pointer (an integer division per sample
    for i in range(lo, hi + 1):  # costs more than everything else in these loops)
        v = sign * sig[p]
        if v > best:
            best = v
            bi = i
        p = p + 1 if p + 1 < cap else 0
    if bi < 0:
        return np.nan
    if lo < bi < hi:
        a = float(sig[(bi - 1) % cap])
        b = float(sig[bi % cap])
        c = float(sig[(bi + 1) % cap])
        return bi + _vertex(a, b, c)
    return float(bi)


@njit(**JIT_OPTIONS)
def _emit_event(ev, cnt, ki, t, rate):
    i = cnt[ki]
    if i >= ev.size:
        cnt[K_OVERFLOW] = 1
        return
    ev[i] = t / rate
    cnt[ki] = i + 1


@njit(**JIT_OPTIONS)
def _emit_ic(out, t, side, rate):
    ev_ic, _, _, _, _, cnt, ev_side = out
    i = cnt[K_IC]
    if i < ev_side.size:
        ev_side[i] = side
    _emit_event(ev_ic, cnt, K_IC, t, rate)


@njit(**JIT_OPTIONS)
def _cycle_stats(raw, p0, n_cyc):
    # Per-channel (min, max, sum) of ``n_cyc`` ring rows from row ``p0`` (at most two
    # contiguous stretches). Sample-major with one scalar chain per channel: a loop per
    # channel is latency-bound on its single min/max/sum chain, six chains side by side
    # run ~2x faster. Every channel is still summed in sample order, so the sums are bit
    # for bit those of a channel-by-channel loop (no re-association; fastmath is off).
    cap = raw.shape[0]
    l0 = l1 = l2 = l3 = l4 = l5 = np.inf
    h0 = h1 = h2 = h3 = h4 = h5 = -np.inf
    s0 = s1 = s2 = s3 = s4 = s5 = 0.0
    first = min(n_cyc, cap - p0)
    for part in range(2):
        a = p0 if part == 0 else 0
        b = p0 + first if part == 0 else n_cyc - first
        for p in range(a, b):
            v = raw[p, 0]
            l0, h0, s0 = min(l0, v), max(h0, v), s0 + v
            v = raw[p, 1]
            l1, h1, s1 = min(l1, v), max(h1, v), s1 + v
            v = raw[p, 2]
            l2, h2, s2 = min(l2, v), max(h2, v), s2 + v
            v = raw[p, 3]
            l3, h3, s3 = min(l3, v), max(h3, v), s3 + v
            v = raw[p, 4]
            l4, h4, s4 = min(l4, v), max(h4, v), s4 + v
            v = raw[p, 5]
            l5, h5, s5 = min(l5, v), max(h5, v), s5 + v
    return (l0, l1, l2, l3, l4, l5), (h0, h1, h2, h3, h4, h5), (s0, s1, s2, s3, s4, s5)


@njit(**JIT_OPTIONS)
def _any_set(flags, p0, n):
    # Whether any of ``n`` ring entries from ``p0`` is non-zero.
    cap = flags.size
    p = p0
    for _ in range(n):
        if flags[p] != 0:
            return True
        p = p + 1 if p + 1 < cap else 0
    return False


@njit(**JIT_OPTIONS)
def _emit_cycle(start, end, fc, side, forced, par, st, out):
    raw, qual, _, ist, fst = st
    _, _, rows_f, rows_i, norm, cnt, _ = out
    r = cnt[K_ROW]
    if r >= rows_f.shape[0]:
        cnt[K_OVERFLOW] = 1
        return
    rate = par[P_RATE]
    cap = raw.shape[0]
    dur = (end - start) / rate
    rows_f[r, C_START] = start / rate
    rows_f[r, C_END] = end / rate
    rows_f[r, C_FC] = fc / rate
    rows_f[r, C_DUR] = dur
    rows_f[r, C_CAD] = 120.0 / dur if dur > 0.0 else np.nan  # steps/min
    if start < fc < end:
        stance = 100.0 * (fc - start) / (end - start)
        rows_f[r, C_STANCE] = stance
        rows_f[r, C_SWING] = 100.0 - stance
    else:
        rows_f[r, C_STANCE] = np.nan
        rows_f[r, C_SWING] = np.nan

    # The rings are sized so that any cycle up to P_MAXCYC is still held: availability must
    # not depend on how far the current block reaches, or chunking would change results.
    i0 = int(np.ceil(start))
    i1 = int(np.floor(end))
    available = (
        forced == REASON_OK and i0 >= ist[I_SEG] and i0 <= i1 and end - start <= par[P_MAXCYC]
    )
    has_nan = False
    flagged = False
    if available:
        n_cyc = i1 - i0 + 1
        lo, hi, acc = _cycle_stats(raw, i0 % cap, n_cyc)
        n_meas = int(par[P_NCH])  # measured channels; an accelerometer-only stream's
        for c in range(N_CH):  # gyroscope columns are NaN and stay out of the checks
            if c < n_meas:
                has_nan |= not np.isfinite(acc[c])  # any NaN or inf makes the sum so
            rows_f[r, C_FEAT + 3 * c] = hi[c] - lo[c]
            peak = hi[c] if abs(hi[c]) >= abs(lo[c]) else lo[c]  # signed peak
            rows_f[r, C_FEAT + 3 * c + 1] = peak
            rows_f[r, C_FEAT + 3 * c + 2] = acc[c] / n_cyc
        flagged = _any_set(qual, i0 % cap, n_cyc + 1)  # with the closing IC's sample
        for i in (i0 - 1, i1 + 1):  # the normalisation interpolates from these too
            pi = i % cap
            for c in range(n_meas):
                has_nan |= not np.isfinite(raw[pi, c])
        if has_nan:
            rows_f[r, C_FEAT:] = np.nan
        rows_f[r, C_FEAT + 3 * n_meas :] = np.nan
    else:
        rows_f[r, C_FEAT:] = np.nan

    reason = REASON_OK
    if forced != REASON_OK:
        reason = forced
    elif has_nan:
        reason = REASON_NAN
    elif flagged:
        reason = REASON_DEVICE
    elif not available or not (par[P_MINDUR] <= dur <= par[P_MAXDUR]):
        reason = REASON_DURATION
    elif ist[I_NDU] >= 3:
        med = _hist_median(fst, F_DUH, ist[I_NDU])
        if abs(dur - med) > par[P_OUTLIER] * med:
            reason = REASON_OUTLIER
    if reason in (REASON_OK, REASON_OUTLIER):
        _hist_push(fst, F_DUH, ist, I_NDU, dur)
    rows_i[r, R_VALID] = 1 if reason == REASON_OK else 0
    rows_i[r, R_REASON] = reason
    rows_i[r, R_SIDE] = side
    cnt[K_ROW] = r + 1

    if reason == REASON_OK:
        j = cnt[K_NORM]
        base = i0 - 1  # first sample index that may be needed (floor(start))
        _normalize_cycle(raw, base % cap, base, start, end, norm[j])
        if side == SIDE_LEFT and int(par[P_METHOD]) == METHOD_ACC:
            _mirror(norm[j])
        cnt[K_NORM] = j + 1


@njit(**JIT_OPTIONS)
def _normalize_cycle(raw, pbase, base, start, end, dst):
    # Resample the cycle [start, end] (fractional sample indices) to N_POINTS by linear
    # interpolation into ``dst`` (N_POINTS, N_CH). Sample index ``base`` (<= floor(start))
    # sits at row ``pbase`` of ``raw``, which may be a ring (rows wrap at its end) or a
    # plain array holding samples base .. floor(end) + 1 (pbase = 0). The one resampler of
    # the project: the ingest's stream and the research API's cut from stored samples.
    cap = raw.shape[0]
    span = end - start
    i1 = int(np.floor(end))
    for p in range(N_POINTS):
        t = start + span * _PHASE[p]
        i = min(int(np.floor(t)), i1)
        f = t - i
        a = pbase + (i - base)
        if a >= cap:
            a -= cap
        b = a + 1 if a + 1 < cap else 0
        for c in range(N_CH):
            xa = raw[a, c]
            dst[p, c] = xa + f * (raw[b, c] - xa)


@njit(**JIT_OPTIONS)
def _mirror(dst):
    # Ipsi/contra (LocoHub): a lower-back cycle is expressed relative to its own side. A
    # left cycle is mirrored in the sagittal plane (y -> -y), which negates ay and, the
    # angular velocity being an axial vector, gx and gz; then +y points to the
    # contralateral side for the cycles of either foot, and the two sides pool.
    for p in range(dst.shape[0]):
        for c in MIRRORED:
            dst[p, c] = -dst[p, c]


@njit(**JIT_OPTIONS)
def _normalize_cycles(x, first, starts, ends, out):
    # Each cycle k into out[k]; row 0 of ``x`` is sample index ``first`` of the bounds.
    for k in range(starts.size):
        _normalize_cycle(x, 0, first, starts[k], ends[k], out[k])


@njit(**JIT_OPTIONS)
def _detect_gyro(k_from, k_to, par, scr, st, out):
    # Foot and shank. Phase 1, swing: the signal rose above the adaptive threshold (after
    # the refractory period); it ends at the next downward zero crossing, the end of the
    # terminal swing. Phase 2: once the raw samples of the impact window after that
    # crossing have arrived (sample k + h1 always has), the IC is the foot's impact on
    # the ground in that window (`_impact`), or the crossing itself if there is none. The
    # final contact is the push-off minimum just before the swing (its threshold crossing).
    raw, _, sig1, ist, fst = st
    cap = sig1.size
    maxcyc = par[P_MAXCYC]
    h1 = int(par[P_H1])
    pos = k_from % cap
    for k in range(k_from, k_to):
        s = float(sig1[pos])
        pos = pos + 1 if pos + 1 < cap else 0
        sprev = fst[F_SPREV]
        fst[F_SPREV] = s
        if k - ist[I_LASTIC] > maxcyc:
            _forget_pace(par, ist, fst)
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
            t_ic = _impact(raw, zc, hi, fst[F_ZC], ist[I_SEG], par, scr)
            if t_ic != t_ic and par[P_GYROIC] > 0.0:
                t_ic = _first_minimum(sig1, zc + 1, k, -0.1 * fst[F_PEAKVAL])
            if t_ic != t_ic:
                t_ic = fst[F_ZC]
            _close_stride(t_ic, par, st, out)
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
        win = par[P_ICWIN]
        if ist[I_NST] > 0:  # fast walking: within the first part of the stride
            win = min(win, par[P_ICFRAC] * fst[F_STMED])
        ist[I_ZCEND] = k - 1 + max(2, int(win))


@njit(**JIT_OPTIONS)
def _jerk(raw, i, cap):
    # |a[i] - a[i-1]|: how much the acceleration jumps from one sample to the next.
    p = i % cap
    q = p - 1 if p > 0 else cap - 1
    dx = raw[p, 0] - raw[q, 0]
    dy = raw[p, 1] - raw[q, 1]
    dz = raw[p, 2] - raw[q, 2]
    return np.sqrt(dx * dx + dy * dy + dz * dz)


@njit(**JIT_OPTIONS)
def _impact(raw, lo, hi, t_zc, seg, par, scr):
    # The foot meets the ground some time after the terminal swing ends (the zero
    # crossing at ``t_zc``): how long differs between people and speeds. The contact
    # shows as a jolt of the acceleration. Over samples (lo, hi], the jolt is the largest
    # sample-to-sample jump, if it exceeds P_IMPSIG times the median jump over the
    # window and as long before it (the late swing: the median then stays a quiet level
    # even when the impact rings over much of the window at a low rate); else there is no
    # clear impact (a soft landing, or no landing at all) and the IC stays at the
    # crossing. The impact starts between the last quiet sample and the first one
    # jumping by at least half the largest jump; the contact precedes it by P_IMPLAT.
    # ``scr``: scratch of at least 2 (hi - lo) values (the sorted jumps, for the median).
    cap = raw.shape[0]
    first = max(hi - 2 * (hi - lo) + 1, seg + 1)  # the jumps of samples since the reset
    n = hi - first + 1
    if hi <= lo or lo < first - 1:
        return np.nan
    srt = scr[0]
    best = 0.0
    at = lo
    for m in range(n):
        j = _jerk(raw, first + m, cap)
        if j != j:
            return np.nan  # NaN in the window: no impact to see
        if first + m > lo and j > best:
            best = j
            at = first + m
        q = m  # insertion sort: the window holds a few dozen samples
        while q > 0 and srt[q - 1] > j:
            srt[q] = srt[q - 1]
            q -= 1
        srt[q] = j
    med = 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    if not best > par[P_IMPSIG] * med:
        return np.nan
    for i in range(max(lo + 1, at - int(par[P_IMPRISE])), at + 1):
        if _jerk(raw, i, cap) >= 0.5 * best:
            return max(t_zc, i - 0.5 - par[P_IMPLAT])
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
def _close_stride(t_ic, par, st, out):
    raw, _, sig1, ist, fst = st
    _, ev_fc, _, _, _, cnt, _ = out
    ist[I_INSWING] = 0
    rate = par[P_RATE]
    maxcyc = par[P_MAXCYC]
    sw = ist[I_SWSTART]
    win = par[P_FCWIN]
    if ist[I_NST] > 0:
        win = min(win, 0.5 * fst[F_STMED])
    lo = max(sw - int(win), ist[I_LASTIC] + 1, ist[I_SEG] + int(par[P_H1]))
    lo = max(lo, int(t_ic - par[P_MAXCYC]))
    fc = _extremum(sig1, lo, sw, -1.0)
    if fc == fc:
        # The push-off ends in a dip of a few samples that smoothing flattens: take the
        # minimum of the raw signal (the maximum of gy) near the smoothed one.
        ref = int(par[P_FCREF])
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
        if interval <= par[P_BREAK]:
            fc_in = fc if fc > last else np.nan
            _emit_cycle(last, t_ic, fc_in, 0, REASON_OK, par, st, out)
    _hist_push(fst, F_PKH, ist, I_NPK, fst[F_PEAKVAL])
    _adapt(par, ist, fst)
    fst[F_IC1] = t_ic
    ist[I_LASTIC] = int(np.floor(t_ic))
    _emit_ic(out, t_ic, 0, rate)


@njit(**JIT_OPTIONS)
def _vertical(fst, x, y, z):
    # Projection of an acceleration on the current gravity estimate: the vertical
    # component whatever the trunk's mounting tilt (NaN before any estimate).
    gx = fst[F_GRAV]
    gy = fst[F_GRAV + 1]
    gz = fst[F_GRAV + 2]
    norm = np.sqrt(gx * gx + gy * gy + gz * gz)
    if not norm > 0.0:
        return np.nan
    return (x * gx + y * gy + z * gz) / norm


@njit(**JIT_OPTIONS)
def _dog_extremum(raw, w2, fst, lo, hi, sign, scr):
    # As `_extremum` over the derivative-of-Gaussian of the vertical acceleration on
    # [lo, hi], computed here from the raw ring for just that window: the IC and FC
    # searches are the only readers, and they look at a few short windows per step, so
    # filtering every sample would be wasted work (and a ring of state). Each axis is
    # filtered with `_fir`, then projected on the gravity estimate of the moment (it moves
    # over seconds, the window spans a step), and rounded to float32 as a signal ring
    # would store it: the same numbers, whatever the chunking. ``scr``: four scratch
    # arrays of at least a cycle plus the filter margins.
    if hi < lo:
        return np.nan
    ext, dx, dy, dz = scr
    h2 = w2.size // 2
    m = hi - lo + 1
    _ring_read(raw, 0, lo - h2, m + 2 * h2, 1.0, ext)
    _fir(ext, w2, m, dx)
    _ring_read(raw, 1, lo - h2, m + 2 * h2, 1.0, ext)
    _fir(ext, w2, m, dy)
    _ring_read(raw, 2, lo - h2, m + 2 * h2, 1.0, ext)
    _fir(ext, w2, m, dz)
    for i in range(m):
        dz[i] = np.float32(_vertical(fst, dx[i], dy[i], dz[i]))
    best = -np.inf
    bi = -1
    for i in range(m):
        v = sign * dz[i]
        if v > best:
            best = v
            bi = i
    if bi < 0:
        return np.nan
    if 0 < bi < m - 1:
        return (lo + bi) + _vertex(dz[bi - 1], dz[bi], dz[bi + 1])
    return float(lo + bi)


@njit(**JIT_OPTIONS)
def _ring_mean(ring, col, a, b):
    # Mean of column ``col`` of the ring over samples [a, b] (NaN if empty or any NaN).
    if b < a:
        return np.nan
    cap = ring.shape[0]
    acc = 0.0
    p = a % cap
    for _ in range(a, b + 1):
        acc += ring[p, col]
        p = p + 1 if p + 1 < cap else 0
    return acc / (b - a + 1)


@njit(**JIT_OPTIONS)
def _side_acc(raw, t, k_now, par):
    # Which foot landed at IC ``t``: the medio-lateral acceleration reverses at each IC
    # as the weight moves onto the landing foot, from towards that foot's side before
    # it to towards the other side after it (y points left). Compare the mean ay over
    # the half-step before the IC with the mean just after it. The windows end at most
    # at ``k_now`` (data the detector is sure to hold), so chunking cannot change them.
    win = int(par[P_SIDEWIN])
    gap = int(par[P_SIDEGAP])
    i = int(np.floor(t))
    before = _ring_mean(raw, 1, i - win, i)
    after = _ring_mean(raw, 1, i + gap, min(i + win, k_now))
    d = before - after
    if d > 0.0:
        return 1
    if d < 0.0:
        return 2
    return 0


@njit(**JIT_OPTIONS)
def _confirm_ic_acc(p, k_now, par, w2, scr, st, out):
    # A step candidate: the loading peak at ``p`` stood for P_CONFIRM samples. Its IC is
    # the steepest rise before the peak (the peak lags the contact). Every candidate
    # sets the pace (threshold, refractory period); only those with a neighbour become
    # ICs (the walking gate): another candidate at most P_GATEPREV before it, or at most
    # P_GATENEXT after it. A candidate without the first waits (held) for the second.
    raw, _, _, ist, fst = st
    lo = max(p - int(par[P_ICREF]), ist[I_SEG] + int(par[P_H1]))
    t = _dog_extremum(raw, w2, fst, lo, p, 1.0, scr)
    if t != t:
        t = float(p)
    side = _side_acc(raw, t, k_now + int(par[P_H1]), par)
    last = fst[F_CAND]
    if last == last and t - last <= par[P_MAXCYC]:
        _hist_push(fst, F_STH, ist, I_NST, t - last)
    _hist_push(fst, F_PKH, ist, I_NPK, fst[F_PENDH])
    _adapt(par, ist, fst)
    ist[I_LASTIC] = p  # the refractory period runs from the detected peak
    held = fst[F_HELD]
    if held == held:
        if t - held <= par[P_GATENEXT]:
            _accept_ic_acc(held, ist[I_HELDSIDE], True, par, w2, scr, st, out)
        fst[F_HELD] = np.nan  # accepted now, or no step followed it in time: not walking
    if last == last and t - last <= par[P_GATEPREV]:
        _accept_ic_acc(t, side, False, par, w2, scr, st, out)
    else:
        fst[F_HELD] = t
        ist[I_HELDSIDE] = side
    fst[F_CAND] = t


@njit(**JIT_OPTIONS)
def _accept_ic_acc(t, side, bout_start, par, w2, scr, st, out):
    # An IC of walking: its FC, the cycle it closes, the event. A held candidate had no
    # step within P_GATEPREV before it: it starts a bout and closes nothing (so nothing
    # before it is read, and the rings need not hold the wait).
    raw, _, _, ist, fst = st
    _, ev_fc, _, _, _, cnt, _ = out
    rate = par[P_RATE]
    ic1 = fst[F_IC1]
    ic2 = fst[F_IC2]
    if bout_start or (ic1 == ic1 and t - ic1 > par[P_MAXCYC]):
        # A pause between bouts: start afresh.
        ic1 = np.nan
        ic2 = np.nan
        ist[I_SIDE1] = 0
        ist[I_SIDE2] = 0
    fc = np.nan
    if ic1 == ic1:
        # The final contact after ic1 (the other foot lifting off) lies in the first half
        # of the step: the steepest fall of the vertical acceleration.
        lo = int(np.floor(ic1)) + 1
        hi = int(np.floor(ic1 + 0.5 * (t - ic1)))
        fc = _dog_extremum(raw, w2, fst, lo, hi, -1.0, scr)
        if fc == fc:
            _emit_event(ev_fc, cnt, K_FC, fc, rate)
    if ic2 == ic2 and t - ic2 <= par[P_BREAK]:
        _emit_cycle(ic2, t, fc, ist[I_SIDE2], REASON_OK, par, st, out)
    fst[F_IC2] = ic1
    fst[F_IC1] = t
    ist[I_SIDE2] = ist[I_SIDE1]
    ist[I_SIDE1] = side
    _emit_ic(out, t, side, rate)


@njit(**JIT_OPTIONS)
def _detect_acc(k_from, k_to, sx, sy, sz, par, w2, scr, st, out):
    # Lower back (McCamley): initial contacts are the maxima of the smoothed vertical
    # acceleration (the minima of the CWT of its integral), above an adaptive height over
    # a slow baseline, at least a refractory period apart; a peak is confirmed once no
    # higher one followed within ``P_CONFIRM`` samples. ``sx, sy, sz[k - k_from]`` are
    # the smoothed axes at sample k, straight from the filter; the vertical is their
    # projection on the gravity estimate (a slow mean of the same smoothed axes, so a
    # tilted or bending trunk still gives its vertical). The detector reads each value
    # once, in order (the previous two are in ``fst``), so no ring holds it.
    _, _, _, ist, fst = st
    alpha = par[P_BASE_ALPHA]
    for k in range(k_from, k_to):
        j = k - k_from
        ax = sx[j]
        ay = sy[j]
        az = sz[j]
        if np.isfinite(ax) and np.isfinite(ay) and np.isfinite(az):
            g0 = fst[F_GRAV]
            if g0 == g0:
                fst[F_GRAV] = g0 + alpha * (ax - g0)
                fst[F_GRAV + 1] += alpha * (ay - fst[F_GRAV + 1])
                fst[F_GRAV + 2] += alpha * (az - fst[F_GRAV + 2])
            else:
                fst[F_GRAV] = ax
                fst[F_GRAV + 1] = ay
                fst[F_GRAV + 2] = az
        # Rounded to float32 as the foot/shank signal ring (and the reference) store it.
        y = float(np.float32(_vertical(fst, ax, ay, az)))
        ym1 = fst[F_YM1]
        ym2 = fst[F_YM2]
        fst[F_YM2] = ym1
        fst[F_YM1] = y
        if k - ist[I_LASTIC] > par[P_MAXCYC]:
            _forget_pace(par, ist, fst)
        pend = ist[I_PEND]
        if pend >= 0 and k - pend > par[P_CONFIRM]:
            ist[I_PEND] = -1
            _confirm_ic_acc(pend, k, par, w2, scr, st, out)
        base = fst[F_BASE]
        if ym2 < ym1 and ym1 >= y and base == base:
            height = ym1 - base
            if (
                height > fst[F_THR]
                and (k - 1) - ist[I_LASTIC] >= fst[F_REFR]
                and (ist[I_PEND] < 0 or ym1 > fst[F_PENDVAL])
            ):
                ist[I_PEND] = k - 1
                fst[F_PENDVAL] = ym1
                fst[F_PENDH] = height
        if np.isfinite(y):
            if base == base:
                fst[F_BASE] = base + alpha * (y - base)
            else:
                fst[F_BASE] = y


@njit(**JIT_OPTIONS)
def _ring_read(ring, col, a, n, sign, out):
    cap = ring.shape[0]
    p = a % cap
    for j in range(n):
        out[j] = sign * ring[p, col]
        p += 1
        if p == cap:
            p = 0


@njit(**JIT_OPTIONS)
def _ring_write1(ring, a, y, n):
    cap = ring.shape[0]
    p = a % cap
    for j in range(n):
        ring[p] = y[j]
        p += 1
        if p == cap:
            p = 0


@njit(**JIT_OPTIONS)
def _run(
    x,
    q,
    a,
    b,
    par,
    w1,
    w2,
    st,
    out,
    ext,
    y,
    scr,
):
    # ext, y: scratch for the filter, at least one block (+ the filter's margins) long
    # (y: three rows, one per acceleration axis for the lower back); scr: the lower
    # back's scratch for `_dog_extremum`.
    raw, qual, sig1, ist, _ = st
    cap = raw.shape[0]
    n0 = ist[I_N]
    p = n0 % cap
    for i in range(a, b):
        for c in range(N_CH):
            raw[p, c] = x[i, c]
        qual[p] = 1 if q[i] != 0 else 0  # only "any bit set" matters
        p += 1
        if p == cap:
            p = 0
    n = n0 + (b - a)
    ist[I_N] = n
    gyro = int(par[P_METHOD]) == METHOD_GYRO
    h1 = int(par[P_H1])

    # The detection signal, smoothed with a centred filter (look-ahead h1).
    k_lo = ist[I_K1]
    k_hi = n - 1 - h1
    if k_hi < k_lo:
        return
    n_out = k_hi - k_lo + 1
    if gyro:
        _ring_read(raw, 4, k_lo - h1, n_out + 2 * h1, -1.0, ext)  # forward swing: -gy > 0
        _fir(ext, w1, n_out, y[0])
        ist[I_K1] = k_hi + 1
        _ring_write1(sig1, k_lo, y[0], n_out)
        _detect_gyro(ist[I_KD], ist[I_K1], par, scr, st, out)
    else:
        for c in range(3):
            _ring_read(raw, c, k_lo - h1, n_out + 2 * h1, 1.0, ext)
            _fir(ext, w1, n_out, y[c])
        ist[I_K1] = k_hi + 1
        _detect_acc(k_lo, k_hi + 1, y[0], y[1], y[2], par, w2, scr, st, out)
    ist[I_KD] = ist[I_K1]


@njit(**JIT_OPTIONS)
def _gap(glen, par, st, out):
    # Close the cycles the gap cuts open as invalid ('gap'), then start afresh.
    _, _, _, ist, fst = st
    last = float(ist[I_N] - 1)
    if int(par[P_METHOD]) == METHOD_ACC:
        ic2 = fst[F_IC2]
        if ic2 == ic2 and ic2 < last:
            _emit_cycle(ic2, last, np.nan, ist[I_SIDE2], REASON_GAP, par, st, out)
    ic1 = fst[F_IC1]
    if ic1 == ic1 and ic1 < last:
        _emit_cycle(ic1, last, np.nan, ist[I_SIDE1], REASON_GAP, par, st, out)
    ist[I_N] += glen
    _reset(ist[I_N], par, ist, fst)


@njit(**JIT_OPTIONS)
def _init_state(par, ist, fst):
    ist[I_N] = 0
    _reset(0, par, ist, fst)


@njit(**JIT_OPTIONS)
def _push(
    x,
    q,
    gap_at,
    gap_len,
    par,
    w1,
    w2,
    st,
    out,
):
    # Process one block of samples; gaps (sorted offsets into the block, with the number of
    # missing samples) reset the detector before the sample they precede.
    cnt = out[5]
    cnt[:] = 0
    m = x.shape[0]
    block = int(par[P_BLOCK])
    h1 = int(par[P_H1])
    ext = np.empty(block + 2 * h1)
    y = np.empty((3, block))
    n_scr = 2 * int(par[P_ICWIN]) + 1  # foot/shank: the impact window and the late swing
    if int(par[P_METHOD]) == METHOD_ACC:
        n_scr = int(par[P_MAXCYC]) + 2 * int(par[P_H2]) + 2  # longest window + margins
    scr = (np.empty(n_scr), np.empty(n_scr), np.empty(n_scr), np.empty(n_scr))
    pos = 0
    g = 0
    while pos < m or g < gap_at.size:
        if g < gap_at.size and gap_at[g] <= pos:
            _gap(gap_len[g], par, st, out)
            g += 1
            continue
        end = min(m, pos + block)
        if g < gap_at.size:
            end = min(end, gap_at[g])
        _run(x, q, pos, end, par, w1, w2, st, out, ext, y, scr)
        pos = end
