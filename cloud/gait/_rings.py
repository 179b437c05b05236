"""Ring buffers, filters and small numeric helpers of the gait kernels (no state layout
beyond the event histories in ``fst``)."""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from ._layout import F_SORT, N_HIST


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
def _ring_min(ring, a, b):
    # Smallest value of a 1-D ring over samples [a, b], NaNs skipped (inf if none).
    cap = ring.size
    m = np.inf
    p = a % cap
    for _ in range(a, b + 1):
        v = ring[p]
        if v < m:
            m = v
        p = p + 1 if p + 1 < cap else 0
    return float(m)


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
