"""The four entry points of the gait kernels, from the ahead-of-time build when it matches
the sources, else from numba's JIT.

The build (`gaitlink gait build`, run by tools/setup.sh; cloud/aot.py) is a plain C
extension: loading it costs under 1 MB of RSS, where importing numba and llvmlite costs
~100 MB and loading the JIT-compiled kernels from numba's cache ~50 MB more (the ingest's
memory budget, docs/ingest.md). A build of other sources is never loaded: the JIT serves
instead (`WHY_JIT` says why).

Only this module and the build import the numba kernels (`_kernels`, `_pace`, `_cycles`).
"""

from __future__ import annotations

from pathlib import Path

from gaitlink.cloud.aot import KernelBuild

_F1, _F2, _F3 = "float64[::1]", "float64[:, ::1]", "float64[:, :, ::1]"
_I1, _I2 = "int64[::1]", "int64[:, ::1]"
# (raw ring, quality ring, signal ring, integer state, float state): stream.GaitStream._state
_STATE = f"Tuple(({_F2}, uint8[::1], float32[::1], {_I1}, {_F1}))"
# (ev_ic, ev_fc, rows_f, rows_i, norm, cnt, ev_side): stream._Outputs.arrays
_OUT = f"Tuple(({_F1}, {_F1}, {_F2}, {_I2}, {_F3}, {_I1}, {_I1}))"
# (filter input, filter output, (search window, search window)): GaitStream._scratch
_SCRATCH = f"Tuple(({_F1}, {_F2}, UniTuple({_F1}, 2)))"

# Every private module of the room is a source: the kernels, their layout, their compile
# options, and this table of what is exported. stream.py makes every array contiguous and
# of the kernel's dtype before a call, so these are the only types passed.
BUILD = KernelBuild(
    package=__package__,
    directory=Path(__file__).parent,
    stem="_kernels_aot",
    sources=("_*.py",),
    exports={
        "push": ("_kernels", "_push",
                 f"void({_F2}, uint16[::1], {_I1}, {_I1}, {_F1}, {_I1}, {_F1}, {_F1}, "
                 f"{_STATE}, {_OUT}, {_SCRATCH})"),
        "init_state": ("_pace", "_init_state", f"void({_F1}, {_I1}, {_I1}, {_F1})"),
        "reset": ("_pace", "_reset", f"void(int64, {_F1}, {_I1}, {_I1}, {_F1})"),
        "normalize_cycles": ("_cycles", "_normalize_cycles",
                             f"void({_F2}, int64, {_F1}, {_F1}, {_F3})"),
    },
)  # fmt: skip


def _load():
    built, why = BUILD.load()
    if built is not None:
        kernels = (built.push, built.init_state, built.reset, built.normalize_cycles)
        return *kernels, "ahead-of-time", None
    from ._cycles import _normalize_cycles
    from ._kernels import _push
    from ._pace import _init_state, _reset

    return _push, _init_state, _reset, _normalize_cycles, "numba JIT", why


# KIND: "ahead-of-time" or "numba JIT"; WHY_JIT: why not the build, for a service to log
# (not logged here: every `gaitlink` command imports this room at start).
push, init_state, reset, normalize_cycles, KIND, WHY_JIT = _load()
