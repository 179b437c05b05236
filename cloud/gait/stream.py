"""Public segmentation API: `GaitStream` (push blocks as they arrive) and `segment` (batch).

`segment` is one push of the whole recording into a fresh `GaitStream`, so the two give
the same events and cycles by construction; the kernels never look further ahead than the
method's look-ahead, whatever the block size.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from . import _layout as k
from ._compiled import init_state, push, reset
from ._compiled import normalize_cycles as _normalize
from .methods import ACC, GYRO, channel_mask, make_plan
from .table import SIDE_NAMES, cycles_from_rows, empty_cycles

__all__ = ["GaitResult", "GaitStream", "LateData", "normalize_cycles", "segment"]


_NO_SIDES = np.empty(0, dtype="U5")
_NO_SIDES.setflags(write=False)


class LateData(ValueError):
    """A block starts before the stream's current time (late or out of order); not consumed."""


@dataclass(frozen=True, slots=True)
class GaitResult:
    """Events and cycles of a recording (`segment`) or of one push (`GaitStream.push`).

    Times are seconds from the first sample of the recording / stream.
    """

    initial_contacts: np.ndarray  # float64 (n_ic,)
    final_contacts: np.ndarray  # float64 (n_fc,)
    cycles: np.ndarray  # structured array, dtype CYCLE_DTYPE, one row per cycle
    normalized: np.ndarray  # float64 (n_valid_cycles, 150, 6)
    # Foot of each initial contact: 'left'/'right' (lower back), '' (foot/shank: the
    # sensor's own foot, or not known).
    ic_sides: np.ndarray = field(default_factory=lambda: _NO_SIDES)

    @property
    def valid_cycles(self) -> np.ndarray:
        return self.cycles[self.cycles["valid"]]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


_EMPTY = GaitResult(
    _frozen(np.empty(0)),
    _frozen(np.empty(0)),
    _frozen(empty_cycles()),
    _frozen(np.empty((0, k.N_POINTS, k.N_CH))),
    _NO_SIDES,
)
_NO_GAPS = np.empty(0, dtype=np.int64)


class _Outputs:
    """Output buffers of one kernel call, sized by the most events a block can produce."""

    __slots__ = ("arrays", "cap", "cnt", "ev_fc", "ev_ic", "ev_side", "norm", "rows_f", "rows_i")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.ev_ic = np.empty(cap)
        self.ev_fc = np.empty(cap)
        self.rows_f = np.empty((cap, k.N_COLS))
        self.rows_i = np.empty((cap, 3), dtype=np.int64)
        self.norm = np.empty((cap, k.N_POINTS, k.N_CH))
        self.cnt = np.zeros(k.N_CNT, dtype=np.int64)
        self.ev_side = np.zeros(cap, dtype=np.int64)
        self.arrays = (
            self.ev_ic, self.ev_fc, self.rows_f, self.rows_i, self.norm, self.cnt, self.ev_side
        )  # fmt: skip

    def result(self, copy: bool = False) -> GaitResult:
        """The events of the last call; ``copy``: out of buffers that will be reused (the
        cycle rows are always copied into the table)."""
        n_ic, n_fc, n_row, n_norm, overflow = self.cnt
        if overflow:
            raise RuntimeError("gait kernel output overflow (more events than the bound)")
        if n_ic == 0 and n_fc == 0 and n_row == 0:
            return _EMPTY
        ics, fcs, norm = self.ev_ic[:n_ic], self.ev_fc[:n_fc], self.norm[:n_norm]
        if copy:
            ics, fcs, norm = ics.copy(), fcs.copy(), norm.copy()
        return GaitResult(
            initial_contacts=ics,
            final_contacts=fcs,
            cycles=cycles_from_rows(self.rows_f[:n_row], self.rows_i[:n_row]),
            normalized=norm,
            ic_sides=SIDE_NAMES[self.ev_side[:n_ic]],
        )


# Pushes write into output buffers of their thread, reused from push to push (the results
# are copied out of them: a push's events are few), so a push allocates only its results.
# Streams may run in a thread pool (the kernels release the GIL), hence one set per
# thread, shared by all the streams it runs. A push that may produce more than
# _REUSED_MAX events (a block of seconds, or `segment`) gets buffers of its own instead,
# so what stays allocated per thread is bounded: ~0.5 MB.
_REUSED_MAX = 64
_reused = threading.local()


def _push_outputs(cap: int) -> tuple[_Outputs, bool]:
    """Output buffers for a push that may produce ``cap`` events; whether they are reused."""
    if cap > _REUSED_MAX:
        return _Outputs(cap), False
    out = getattr(_reused, "out", None)
    if out is None or out.cap < cap:
        out = _reused.out = _Outputs(max(cap, 8))
    return out, True


class GaitStream:
    """Streaming gait segmentation of one device.

    ``push(samples, quality=None, t0=None, gap_before=False)`` feeds the next block (n, 6)
    in the body frame (ax, ay, az m/s², gx, gy, gz rad/s) and returns a `GaitResult` with the
    events and cycles completed by this block. Blocks must be contiguous in time:

    - ``t0`` (seconds, any epoch) is optional. The first block sets the stream's time 0; a
      later block starting more than half a sample after the expected time is a gap
      (handled as ``gap_before=True``, stream time advances by the missing samples); one
      starting more than half a sample early raises `LateData` and is not consumed. With
      a device clock that jitters by more than that, leave ``t0`` out and signal gaps from
      the frame sequence numbers with ``gap_before``.
    - ``gap_before=True`` says samples are missing before this block: the cycles the gap
      cuts open are emitted invalid with reason 'gap' and the detector starts afresh.
    - ``quality``: per-sample device quality bits (uint16, protocol §2.2); a cycle
      containing a flagged sample is invalid with reason 'device_flag'.

    ``channels`` (default both): ``"acc"`` or the header bit 0x01 for an
    accelerometer-only device, whose blocks are (n, 3) ax, ay, az (lower back only; the
    gyroscope's features and normalised columns are NaN). See `supports`.
    """

    __slots__ = (
        "_fst", "_ist", "_plan", "_q0", "_qual", "_raw", "_scratch", "_sig1", "_state", "_t0",
        "placement", "rate_hz",
    )  # fmt: skip

    def __init__(self, rate_hz: float, placement: str, channels=ACC | GYRO) -> None:
        mask = channel_mask(channels)
        if not mask & ACC:
            raise ValueError("samples without the accelerometer are not accepted")
        plan = make_plan(placement, rate_hz, 6 if mask & GYRO else 3)
        self._plan = plan
        self.rate_hz = plan.rate_hz
        self.placement = plan.placement
        cap = plan.ring
        self._raw = np.zeros((cap, k.N_CH))
        self._qual = np.zeros(cap, dtype=np.uint8)  # 1 where the device flagged the sample
        self._sig1 = np.zeros(plan.sig_ring, dtype=np.float32)
        self._ist = np.zeros(k.N_IST, dtype=np.int64)
        self._fst = np.zeros(k.N_FST)
        self._state = (self._raw, self._qual, self._sig1, self._ist, self._fst)
        # Work arrays of the kernels, allocated once per stream rather than per push.
        n_ext, y_shape, n_scr = k.scratch_shapes(plan.ipar)
        scr = (np.empty(n_scr), np.empty(n_scr))
        self._scratch = (np.empty(n_ext), np.empty(y_shape), scr)
        self._t0: float | None = None
        self._q0 = np.zeros(0, dtype=np.uint16)
        init_state(plan.par, plan.ipar, self._ist, self._fst)

    # -- properties ---------------------------------------------------------------------

    @property
    def lookahead_s(self) -> float:
        """Data time after an event before the method has decided it."""
        return self._plan.lookahead_s

    @property
    def samples_seen(self) -> int:
        """Stream time in samples (gaps included)."""
        return int(self._ist[k.I_N])

    @property
    def time_s(self) -> float:
        """Stream time of the next sample, seconds since the first."""
        return self.samples_seen / self.rate_hz

    @property
    def t0(self) -> float | None:
        return self._t0

    @property
    def state_nbytes(self) -> int:
        """Bytes held by the stream's state arrays (rings and scalars)."""
        return sum(a.nbytes for a in self._state)

    # -- feeding ------------------------------------------------------------------------

    def _capacity(self, n: int, n_gaps: int) -> int:
        # Initial contacts are at least the refractory period apart and each closes at
        # most one cycle; a gap closes up to two; each run between gaps may add one more.
        return n // self._plan.refr_min + 4 * (n_gaps + 1)

    @property
    def n_columns(self) -> int:
        """Columns a block has: 6 (ax..gz) or 3 (ax, ay, az; accelerometer only)."""
        return self._plan.n_columns

    def push(
        self,
        samples: np.ndarray,
        quality: np.ndarray | None = None,
        t0: float | None = None,
        gap_before: bool = False,
    ) -> GaitResult:
        x = _as_samples(samples, self._plan.n_columns)
        n = x.shape[0]
        q = self._quality(quality, n)
        gap_len = 0
        if t0 is not None:
            t0 = float(t0)
            if self._t0 is None:
                self._t0 = t0 - self.time_s
            else:
                lag = (t0 - self._t0) * self.rate_hz - self._ist[k.I_N]
                if lag < -0.5:
                    raise LateData(
                        f"block starts {-lag / self.rate_hz:.3f} s before the stream's current "
                        "time; late or out-of-order data is not processed"
                    )
                if lag > 0.5:
                    gap_len = round(lag)
                    gap_before = True
        if gap_before:
            gaps, lens = np.zeros(1, np.int64), np.array([gap_len], np.int64)
        else:
            gaps = lens = _NO_GAPS
        out, reused = _push_outputs(self._capacity(n, len(gaps)))
        self._call(x, q, gaps, lens, out)
        return out.result(copy=reused)

    def _call(self, x, q, gaps, lens, out: _Outputs) -> None:
        p = self._plan
        push(x, q, gaps, lens, p.par, p.ipar, p.w1, p.w2, self._state, out.arrays, self._scratch)

    def _quality(self, quality, n: int) -> np.ndarray:
        if quality is None:
            if self._q0.size < n:
                self._q0 = np.zeros(max(n, 256), dtype=np.uint16)
            return self._q0[:n]
        q = np.ascontiguousarray(quality, dtype=np.uint16)
        if q.shape != (n,):
            raise ValueError(f"quality must be one uint16 per sample, shape ({n},); got {q.shape}")
        return q

    def reset(self) -> None:
        """Forget the detector state as at a gap (open cycles are dropped, not emitted)."""
        reset(int(self._ist[k.I_N]), self._plan.par, self._plan.ipar, self._ist, self._fst)


def _as_samples(samples, n_columns: int | None = 6) -> np.ndarray:
    """(n, 6) float64, C-contiguous; (n, 3) accelerometer-only blocks get NaN gyroscope
    columns. ``n_columns``: what the stream takes (None: 3 or 6, as given)."""
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] not in (3, 6) or n_columns not in (None, x.shape[1]):
        want = "(n, 3): ax, ay, az" if n_columns == 3 else "(n, 6): ax, ay, az, gx, gy, gz"
        if n_columns is None:
            want += ", or (n, 3): ax, ay, az"
        raise ValueError(f"samples must have shape {want}; got {x.shape}")
    if x.shape[1] == 3:
        x = np.concatenate((x, np.full((x.shape[0], 3), np.nan)), axis=1, dtype=np.float64)
    elif x.dtype != np.float64 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=np.float64)
    return x


def segment(
    samples: np.ndarray,
    rate_hz: float,
    placement: str,
    quality: np.ndarray | None = None,
    gaps: np.ndarray | None = None,
) -> GaitResult:
    """Segment a recording into gait cycles.

    ``samples`` (n, 6): ax, ay, az (m/s²), gx, gy, gz (rad/s) in the body frame (x forward,
    y left, z up); or (n, 3) ax, ay, az from an accelerometer-only device (lower back).
    ``quality``: optional uint16 device quality bits per sample. ``gaps``: optional sample
    indices before which data is missing (as `GaitStream.push` with ``gap_before=True``).
    Runs the streaming kernel over the whole array in one push.
    """
    x = _as_samples(samples, None)
    stream = GaitStream(rate_hz, placement, ACC if np.shape(samples)[1] == 3 else ACC | GYRO)
    n = x.shape[0]
    q = stream._quality(quality, n)
    if gaps is None:
        g = _NO_GAPS
    else:
        g = np.unique(np.asarray(gaps, dtype=np.int64))
        if g.size and (g[0] < 0 or g[-1] >= max(n, 1)):
            raise ValueError(f"gaps must be sample indices in [0, {n}); got {gaps!r}")
    out = _Outputs(stream._capacity(n, g.size))
    stream._call(x, q, g, np.zeros(g.size, np.int64), out)
    return out.result()


def normalize_cycles(samples: np.ndarray, starts, ends, first: int = 0, sides=None) -> np.ndarray:
    """Resample cycles of a recording to 150 points each, as `segment` does: (n, 150, 6).

    ``starts``/``ends``: each cycle's bounding initial contacts as fractional sample indices,
    e.g. ``cycles["start"] * rate_hz``; ``samples`` (n, 6) holds the samples from index
    ``first`` on (a window of a longer stream). Linear interpolation by the streaming
    kernel's own code, on the indices as given, so cycles cut from a window of stored
    samples equal `segment`'s whatever the window. ``sides``: each cycle's ``side`` from
    the cycles table; 'left' cycles (only the lower back names them) are mirrored as
    `segment` mirrors them (ipsi/contra: ay, gx, gz negated).
    """
    x = _as_samples(samples)
    s = np.ascontiguousarray(starts, dtype=np.float64).reshape(-1)
    e = np.ascontiguousarray(ends, dtype=np.float64).reshape(-1)
    if s.shape != e.shape:
        raise ValueError(f"starts and ends differ in length: {s.size} and {e.size}")
    # The last point interpolates towards the sample after floor(end): it must exist.
    first = int(first)
    if s.size and not (
        np.all(np.isfinite(s)) and np.all(np.isfinite(e)) and s.min() >= first
        and np.all(s < e) and np.floor(e.max()) + 1 < first + x.shape[0]
    ):  # fmt: skip
        raise ValueError(
            f"cycles must satisfy {first} <= start < end and floor(end) + 1 < "
            f"{first + x.shape[0]} (the samples held)"
        )
    out = np.empty((s.size, k.N_POINTS, k.N_CH))
    _normalize(x, first, s, e, out)
    if sides is not None:
        left = np.asarray(sides).reshape(-1) == "left"
        if left.shape != s.shape:
            raise ValueError(f"sides must name one side per cycle ({s.size}); got {left.size}")
        out[np.ix_(left, np.arange(k.N_POINTS), list(k.MIRRORED))] *= -1.0
    return out


def lookahead_s(placement: str, rate_hz: float) -> float:
    """The method's look-ahead: data time after an event before it is decided."""
    return make_plan(placement, rate_hz).lookahead_s
