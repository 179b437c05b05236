"""Events and cycles out of the kernels: event times, cycle rows (features, validity,
side) and the 150-point normalisation (with the lower back's ipsi/contra mirror)."""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from ._layout import (
    _PHASE,
    C_CAD,
    C_DUR,
    C_END,
    C_FC,
    C_FEAT,
    C_STANCE,
    C_START,
    C_SWING,
    F_DUH,
    I_LASTFLAG,
    I_NDU,
    I_SEG,
    IP_MAXCYC,
    IP_METHOD,
    IP_NCH,
    K_IC,
    K_NORM,
    K_OVERFLOW,
    K_ROW,
    METHOD_ACC,
    MIRRORED,
    N_CH,
    N_POINTS,
    P_MAXDUR,
    P_MINDUR,
    P_OUTLIER,
    P_RATE,
    R_REASON,
    R_SIDE,
    R_VALID,
    REASON_DEVICE,
    REASON_DURATION,
    REASON_NAN,
    REASON_OK,
    REASON_OUTLIER,
    SIDE_LEFT,
)
from ._rings import _any_set, _hist_median, _hist_push


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
def _emit_cycle(start, end, fc, side, forced, par, ipar, st, out):
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

    # The rings are sized so that any cycle up to IP_MAXCYC is still held: availability must
    # not depend on how far the current block reaches, or chunking would change results.
    i0 = int(np.ceil(start))
    i1 = int(np.floor(end))
    available = (
        forced == REASON_OK and i0 >= ist[I_SEG] and i0 <= i1 and end - start <= ipar[IP_MAXCYC]
    )
    has_nan = False
    flagged = False
    if available:
        n_cyc = i1 - i0 + 1
        lo, hi, acc = _cycle_stats(raw, i0 % cap, n_cyc)
        n_meas = ipar[IP_NCH]  # measured channels; an accelerometer-only stream's
        for c in range(N_CH):  # gyroscope columns are NaN and stay out of the checks
            if c < n_meas:
                has_nan |= not np.isfinite(acc[c])  # any NaN or inf makes the sum so
            rows_f[r, C_FEAT + 3 * c] = hi[c] - lo[c]
            peak = hi[c] if abs(hi[c]) >= abs(lo[c]) else lo[c]  # signed peak
            rows_f[r, C_FEAT + 3 * c + 1] = peak
            rows_f[r, C_FEAT + 3 * c + 2] = acc[c] / n_cyc
        # With the closing IC's sample; the ring is read only if a flag is that recent.
        flagged = ist[I_LASTFLAG] >= i0 and _any_set(qual, i0 % cap, n_cyc + 1)
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
        if side == SIDE_LEFT and ipar[IP_METHOD] == METHOD_ACC:
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
