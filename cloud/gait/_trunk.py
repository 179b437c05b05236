"""Lower-back detector: steps of the vertical acceleration (McCamley), IC at the heel
strike's jolt (else the steepest rise), FC at the steepest fall, side from ay, the walking
gate and the posture check (see docs/gait.md)."""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from ._cycles import _emit_cycle, _emit_event, _emit_ic
from ._layout import (
    F_BASE,
    F_CAND,
    F_GRAV,
    F_HELD,
    F_IC1,
    F_IC2,
    F_PENDH,
    F_PENDVAL,
    F_PKH,
    F_REFR,
    F_STH,
    F_THR,
    F_YM1,
    F_YM2,
    I_HELDSIDE,
    I_LASTIC,
    I_NPK,
    I_NST,
    I_PEND,
    I_SEG,
    I_SIDE1,
    I_SIDE2,
    IP_BREAK,
    IP_CONFIRM,
    IP_H1,
    IP_ICREF,
    IP_MAXCYC,
    IP_POSTBACK,
    IP_POSTFWD,
    IP_SIDEGAP,
    IP_SIDEWIN,
    IP_TROUGH,
    K_FC,
    P_BASE_ALPHA,
    P_GATENEXT,
    P_GATEPREV,
    P_POSTURE,
    P_RATE,
    REASON_OK,
)
from ._limb import _impact
from ._pace import _adapt, _forget_pace
from ._rings import _fir, _hist_push, _ring_mean, _ring_min, _vertex


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
    # filtering every sample would be wasted work (and a ring of state). The raw samples
    # are projected on the gravity estimate of the moment (it moves over seconds, the
    # window spans a step) and then filtered once: projection and filter are both
    # linear, so this is the filtered axes projected, at a third of the filtering. Rounded
    # to float32 as a signal ring would store it: the same numbers, whatever the
    # chunking. ``scr``: two scratch arrays of at least a cycle plus the filter margins.
    if hi < lo:
        return np.nan
    gx = fst[F_GRAV]
    gy = fst[F_GRAV + 1]
    gz = fst[F_GRAV + 2]
    norm = np.sqrt(gx * gx + gy * gy + gz * gz)
    if not norm > 0.0:
        return np.nan
    ux = gx / norm
    uy = gy / norm
    uz = gz / norm
    ext, dv = scr
    h2 = w2.size // 2
    m = hi - lo + 1
    cap = raw.shape[0]
    p = (lo - h2) % cap
    for j in range(m + 2 * h2):
        ext[j] = raw[p, 0] * ux + raw[p, 1] * uy + raw[p, 2] * uz
        p = p + 1 if p + 1 < cap else 0
    _fir(ext, w2, m, dv)
    best = -np.inf
    bi = -1
    for i in range(m):
        v = float(np.float32(dv[i]))
        dv[i] = v
        v *= sign
        if v > best:
            best = v
            bi = i
    if bi < 0:
        return np.nan
    if 0 < bi < m - 1:
        return (lo + bi) + _vertex(dv[bi - 1], dv[bi], dv[bi + 1])
    return float(lo + bi)


@njit(**JIT_OPTIONS)
def _side_acc(raw, t, k_now, par, ipar):
    # Which foot landed at IC ``t``: the medio-lateral acceleration reverses at each IC
    # as the weight moves onto the landing foot, from towards that foot's side before
    # it to towards the other side after it (y points left). Compare the mean ay over
    # the half-step before the IC with the mean just after it. The windows end at most
    # at ``k_now`` (data the detector is sure to hold), so chunking cannot change them.
    win = ipar[IP_SIDEWIN]
    gap = ipar[IP_SIDEGAP]
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
def _pitching(raw, t, k_now, ist, par, ipar):
    # Whether the trunk pitched by more than the posture limit around IC ``t``: the
    # integral of gy (the pitch rate) from IP_POSTBACK before it to IP_POSTFWD after it.
    # A step of walking tilts the trunk by a few degrees; standing up, sitting down or
    # bending by tens. The window ends at ``k_now`` at most (data the detector is sure to
    # hold), so chunking cannot change it. Without a gyroscope (NaN) nothing pitches.
    if not par[P_POSTURE] > 0.0:
        return False
    i = int(np.floor(t))
    a = max(i - ipar[IP_POSTBACK], ist[I_SEG])
    b = min(i + ipar[IP_POSTFWD], k_now)
    if b < a:
        return False
    return abs(_ring_mean(raw, 4, a, b)) * (b - a + 1) > par[P_POSTURE]


@njit(**JIT_OPTIONS)
def _confirm_ic_acc(p, k_now, par, ipar, w2, scr, st, out):
    # A step candidate: the loading peak at ``p`` stood for IP_CONFIRM samples. Its IC is
    # the heel strike's jolt before the peak, else the steepest rise before it (the peak
    # lags the contact). Every candidate
    # sets the pace (threshold, refractory period); only those with a neighbour become
    # ICs (the walking gate): another candidate at most P_GATEPREV before it, or at most
    # P_GATENEXT after it. A candidate without the first waits (held) for the second. A
    # candidate while the trunk pitches (`_pitching`) is a postural transition: it sets
    # the pace and counts as the step before the next, but is no IC and starts no bout.
    raw, _, sig, ist, fst = st
    # A loading peak rises above the trough of the single support before it, as much as
    # above the slow baseline: the baseline lags a posture change by seconds (after
    # standing up, every wiggle stood above it). Otherwise no step: nothing changes.
    lo = max(p - ipar[IP_TROUGH], ist[I_SEG] + ipar[IP_H1])
    if not fst[F_PENDVAL] - _ring_min(sig, lo, p) > fst[F_THR]:
        return
    lo = max(p - ipar[IP_ICREF], ist[I_SEG] + ipar[IP_H1])
    # The heel strike jolts the trunk too: the start of that jolt, found by the foot's
    # rule (`_impact`, same settings), is the contact; without a clear jolt (a soft
    # landing), the steepest rise of the vertical before its loading peak.
    t = _impact(raw, lo, p, float(lo), ist[I_SEG], par, ipar, scr)
    if t != t:
        t = _dog_extremum(raw, w2, fst, lo, p, 1.0, scr)
    if t != t:
        t = float(p)
    side = _side_acc(raw, t, k_now + ipar[IP_H1], par, ipar)
    last = fst[F_CAND]
    if last == last and t - last <= ipar[IP_MAXCYC]:
        _hist_push(fst, F_STH, ist, I_NST, t - last)
    _hist_push(fst, F_PKH, ist, I_NPK, fst[F_PENDH])
    _adapt(par, ipar, ist, fst)
    ist[I_LASTIC] = p  # the refractory period runs from the detected peak
    if _pitching(raw, t, k_now + ipar[IP_H1], ist, par, ipar):
        fst[F_HELD] = np.nan
        fst[F_CAND] = t
        return
    held = fst[F_HELD]
    if held == held:
        if t - held <= par[P_GATENEXT]:
            _accept_ic_acc(held, ist[I_HELDSIDE], True, par, ipar, w2, scr, st, out)
        fst[F_HELD] = np.nan  # accepted now, or no step followed it in time: not walking
    if last == last and t - last <= par[P_GATEPREV]:
        _accept_ic_acc(t, side, False, par, ipar, w2, scr, st, out)
    else:
        fst[F_HELD] = t
        ist[I_HELDSIDE] = side
    fst[F_CAND] = t


@njit(**JIT_OPTIONS)
def _accept_ic_acc(t, side, bout_start, par, ipar, w2, scr, st, out):
    # An IC of walking: its FC, the cycle it closes, the event. A held candidate had no
    # step within P_GATEPREV before it: it starts a bout and closes nothing (so nothing
    # before it is read, and the rings need not hold the wait).
    raw, _, _, ist, fst = st
    _, ev_fc, _, _, _, cnt, _ = out
    rate = par[P_RATE]
    ic1 = fst[F_IC1]
    ic2 = fst[F_IC2]
    if bout_start or (ic1 == ic1 and t - ic1 > ipar[IP_MAXCYC]):
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
    if ic2 == ic2 and t - ic2 <= ipar[IP_BREAK]:
        _emit_cycle(ic2, t, fc, ist[I_SIDE2], REASON_OK, par, ipar, st, out)
    fst[F_IC2] = ic1
    fst[F_IC1] = t
    ist[I_SIDE2] = ist[I_SIDE1]
    ist[I_SIDE1] = side
    _emit_ic(out, t, side, rate)


@njit(**JIT_OPTIONS)
def _detect_acc(k_from, k_to, sx, sy, sz, par, ipar, w2, scr, st, out):
    # Lower back (McCamley): initial contacts are the maxima of the smoothed vertical
    # acceleration (the minima of the CWT of its integral), above an adaptive height over
    # a slow baseline, at least a refractory period apart; a peak is confirmed once no
    # higher one followed within ``IP_CONFIRM`` samples (and it rose as high above the
    # trough before it, `_confirm_ic_acc`). ``sx, sy, sz[k - k_from]`` are the smoothed
    # axes at sample k, straight from the filter; the vertical is their projection on the
    # gravity estimate (a slow mean of the same smoothed axes, so a tilted or bending
    # trunk still gives its vertical). The detector reads each value once, in order (the
    # previous two are in ``fst``); the ring ``sig`` keeps it for the trough window.
    _, _, sig, ist, fst = st
    alpha = par[P_BASE_ALPHA]
    cap = sig.size
    pos = k_from % cap  # the vertical's ring (one modulo per block, then a wrapping pointer)
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
        sig[pos] = y
        pos = pos + 1 if pos + 1 < cap else 0
        ym1 = fst[F_YM1]
        ym2 = fst[F_YM2]
        fst[F_YM2] = ym1
        fst[F_YM1] = y
        if k - ist[I_LASTIC] > ipar[IP_MAXCYC]:
            _forget_pace(par, ipar, ist, fst)
        pend = ist[I_PEND]
        if pend >= 0 and k - pend > ipar[IP_CONFIRM]:
            ist[I_PEND] = -1
            _confirm_ic_acc(pend, k, par, ipar, w2, scr, st, out)
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
