"""The four entry points of the gait kernels, from the ahead-of-time build when it matches
the sources, else from numba's JIT.

The ahead-of-time build (`gaitlink gait build`, run by tools/setup.sh; see `aot.py`) is a
plain C extension: loading it costs under 1 MB of RSS, where importing numba and llvmlite
costs ~100 MB and loading the JIT-compiled kernels from numba's cache ~50 MB more (the ingest's
memory budget, docs/ingest.md). Its file name carries a digest of the kernels' sources, so a
build of other sources is never loaded: the JIT serves instead (`WHY_JIT` says why).

Only this module and the build import the numba kernels (`_kernels`, `_pace`, `_cycles`).
"""

from __future__ import annotations

import importlib

from ._source import module_name


def _load():
    try:
        aot = importlib.import_module(f"{__package__}.{module_name()}")
    except ImportError as exc:  # none built for these sources, or it does not load
        why = f"the ahead-of-time build is not there ({exc})"
    else:
        return aot.push, aot.init_state, aot.reset, aot.normalize_cycles, "ahead-of-time", None
    from ._cycles import _normalize_cycles
    from ._kernels import _push
    from ._pace import _init_state, _reset

    return _push, _init_state, _reset, _normalize_cycles, "numba JIT", why


# KIND: "ahead-of-time" or "numba JIT"; WHY_JIT: why not the build, for a service to log
# (not logged here: every `gaitlink` command imports this room at start).
push, init_state, reset, normalize_cycles, KIND, WHY_JIT = _load()
