"""The push loop of the gait kernels: samples into the rings, the smoothing filter, and the
placement's detector, block by block; gaps reset the detector. One streaming state machine
for every placement, split by job: `_layout` (the slots of the state arrays), `_rings`
(rings, filters, extrema), `_pace` (thresholds, refractory period, reset), `_limb` (foot
and shank detector), `_trunk` (lower-back detector), `_cycles` (events, cycle rows,
normalisation). numba compiles each call chain as one unit, inlining across modules.

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
  float32; the push-off search looks back into it). The lower back keeps in ``sig1`` only
  the trough window of its smoothed vertical (`_trunk`): its detector reads the smoothed
  signal once, in order, straight from the filter output, and the derivative-of-Gaussian
  it needs near each step is computed from ``raw`` on demand (`_dog_extremum`), only in
  the few windows the IC and FC searches look at;
- ``ist`` (int64) and ``fst`` (float64) scalars, indexed by the ``I_*`` / ``F_*`` names.

Outputs of one push: ``out = (ev_ic, ev_fc, rows_f, rows_i, norm, cnt, ev_side)``: event
times, cycle rows (float and int columns), normalised cycles, the counters ``K_*`` and the
side of each IC (0 unknown or the sensor's own foot, 1 left, 2 right).
"""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from ._cycles import _emit_cycle
from ._layout import (
    F_IC1,
    F_IC2,
    I_K1,
    I_KD,
    I_LASTFLAG,
    I_N,
    I_SIDE1,
    I_SIDE2,
    IP_BLOCK,
    IP_H1,
    IP_METHOD,
    METHOD_ACC,
    METHOD_GYRO,
    N_CH,
    REASON_GAP,
)
from ._limb import _detect_gyro
from ._pace import _reset
from ._rings import _fir, _ring_read, _ring_write1
from ._trunk import _detect_acc


@njit(**JIT_OPTIONS)
def _run(
    x,
    q,
    a,
    b,
    par,
    ipar,
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
        if q[i] != 0:  # only "any bit set" matters
            qual[p] = 1
            ist[I_LASTFLAG] = n0 + (i - a)
        else:
            qual[p] = 0
        p += 1
        if p == cap:
            p = 0
    n = n0 + (b - a)
    ist[I_N] = n
    gyro = ipar[IP_METHOD] == METHOD_GYRO
    h1 = ipar[IP_H1]

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
        _detect_gyro(ist[I_KD], ist[I_K1], par, ipar, scr, st, out)
    else:
        for c in range(3):
            _ring_read(raw, c, k_lo - h1, n_out + 2 * h1, 1.0, ext)
            _fir(ext, w1, n_out, y[c])
        ist[I_K1] = k_hi + 1
        _detect_acc(k_lo, k_hi + 1, y[0], y[1], y[2], par, ipar, w2, scr, st, out)
    ist[I_KD] = ist[I_K1]


@njit(**JIT_OPTIONS)
def _gap(glen, par, ipar, st, out):
    # Close the cycles the gap cuts open as invalid ('gap'), then start afresh.
    _, _, _, ist, fst = st
    last = float(ist[I_N] - 1)
    if ipar[IP_METHOD] == METHOD_ACC:
        ic2 = fst[F_IC2]
        if ic2 == ic2 and ic2 < last:
            _emit_cycle(ic2, last, np.nan, ist[I_SIDE2], REASON_GAP, par, ipar, st, out)
    ic1 = fst[F_IC1]
    if ic1 == ic1 and ic1 < last:
        _emit_cycle(ic1, last, np.nan, ist[I_SIDE1], REASON_GAP, par, ipar, st, out)
    ist[I_N] += glen
    _reset(ist[I_N], par, ipar, ist, fst)


@njit(**JIT_OPTIONS)
def _push(
    x,
    q,
    gap_at,
    gap_len,
    par,
    ipar,
    w1,
    w2,
    st,
    out,
    scratch,
):
    # Process one block of samples; gaps (sorted offsets into the block, with the number of
    # missing samples) reset the detector before the sample they precede. ``scratch``:
    # the stream's own work arrays, allocated once (`scratch_shapes`), never state.
    cnt = out[5]
    cnt[:] = 0
    m = x.shape[0]
    block = ipar[IP_BLOCK]
    ext, y, scr = scratch
    pos = 0
    g = 0
    while pos < m or g < gap_at.size:
        if g < gap_at.size and gap_at[g] <= pos:
            _gap(gap_len[g], par, ipar, st, out)
            g += 1
            continue
        end = min(m, pos + block)
        if g < gap_at.size:
            end = min(end, gap_at[g])
        _run(x, q, pos, end, par, ipar, w1, w2, st, out, ext, y, scr)
        pos = end
