"""The pace of walking: adaptive threshold and refractory period from the recent events,
and the reset that starts a stream afresh."""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from ._layout import (
    F_PKH,
    F_REFR,
    F_STH,
    F_STMED,
    F_THR,
    I_K1,
    I_KD,
    I_LASTFLAG,
    I_LASTIC,
    I_N,
    I_NPK,
    I_NST,
    I_PEND,
    I_SEG,
    IP_H1,
    IP_REFR_MIN,
    NO_IC,
    P_FLOOR,
    P_REFR_FRAC,
    P_THR_FRAC,
)
from ._rings import _hist_median


@njit(**JIT_OPTIONS)
def _reset(seg, par, ipar, ist, fst):
    n = ist[I_N]
    ist[:] = 0
    ist[I_N] = n
    h1 = ipar[IP_H1]
    ist[I_SEG] = seg
    ist[I_K1] = seg + h1
    ist[I_KD] = seg + h1
    ist[I_LASTIC] = NO_IC
    ist[I_PEND] = -1
    ist[I_LASTFLAG] = NO_IC
    fst[:] = np.nan
    _adapt(par, ipar, ist, fst)


@njit(**JIT_OPTIONS)
def _adapt(par, ipar, ist, fst):
    # Threshold from the recent peaks, refractory period from the recent intervals.
    thr = par[P_FLOOR]
    if ist[I_NPK] > 0:
        thr = max(thr, par[P_THR_FRAC] * _hist_median(fst, F_PKH, ist[I_NPK]))
    fst[F_THR] = thr
    refr = ipar[IP_REFR_MIN]
    fst[F_STMED] = np.nan
    if ist[I_NST] > 0:
        fst[F_STMED] = _hist_median(fst, F_STH, ist[I_NST])
        refr = max(refr, par[P_REFR_FRAC] * fst[F_STMED])
    fst[F_REFR] = refr


@njit(**JIT_OPTIONS)
def _forget_pace(par, ipar, ist, fst):
    # After a pause longer than a cycle, the pace of the previous bout says nothing.
    if ist[I_NPK] + ist[I_NST] > 0:
        ist[I_NPK] = 0
        ist[I_NST] = 0
        _adapt(par, ipar, ist, fst)


@njit(**JIT_OPTIONS)
def _init_state(par, ipar, ist, fst):
    ist[I_N] = 0
    _reset(0, par, ipar, ist, fst)
