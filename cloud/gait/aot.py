"""`gaitlink gait build`: the gait kernels compiled ahead of time into a C extension.

Why: a process that JIT-compiles (or loads from numba's cache) the kernels carries numba and
LLVM in memory, ~150 MB of its RSS; the built extension needs only numpy (`_compiled.py`).

How: numba.pycc, numba's ahead-of-time compiler. It is pending deprecation since numba
0.57, with no replacement released yet; if a numba without it is installed, the build fails
with a message and every user of the kernels falls back to the JIT, which gives the same
results with more memory. It needs a C compiler and the Python headers (tools/setup.sh
installs them). The code is compiled for the architecture's generic CPU, not this host's,
so the build stays valid on any machine of the architecture; the kernels are scalar state
machines and lose nothing measurable by it (docs/ingest.md).

The signatures below are the only types the public layer (`stream.py`) passes: it makes
every array contiguous and of the kernel's dtype first.
"""

from __future__ import annotations

import shutil
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path

from ._source import HERE, PREFIX, module_name

_F1, _F2, _F3 = "float64[::1]", "float64[:, ::1]", "float64[:, :, ::1]"
_I1, _I2 = "int64[::1]", "int64[:, ::1]"
# (raw ring, quality ring, signal ring, integer state, float state): stream.GaitStream._state
_STATE = f"Tuple(({_F2}, uint8[::1], float32[::1], {_I1}, {_F1}))"
# (ev_ic, ev_fc, rows_f, rows_i, norm, cnt, ev_side): stream._Outputs.arrays
_OUT = f"Tuple(({_F1}, {_F1}, {_F2}, {_I2}, {_F3}, {_I1}, {_I1}))"
# (filter input, filter output, (search window, search window)): GaitStream._scratch
_SCRATCH = f"Tuple(({_F1}, {_F2}, UniTuple({_F1}, 2)))"
SIGNATURES = {
    "push": f"void({_F2}, uint16[::1], {_I1}, {_I1}, {_F1}, {_I1}, {_F1}, {_F1}, "
    f"{_STATE}, {_OUT}, {_SCRATCH})",
    "init_state": f"void({_F1}, {_I1}, {_I1}, {_F1})",
    "reset": f"void(int64, {_F1}, {_I1}, {_I1}, {_F1})",
    "normalize_cycles": f"void({_F2}, int64, {_F1}, {_F1}, {_F3})",
}


class BuildError(Exception):
    """The build could not be made; the message says why and what to do."""


def built_path(directory: Path = HERE) -> Path:
    return directory / (module_name() + sysconfig.get_config_var("EXT_SUFFIX"))


def build(directory: Path = HERE, force: bool = False) -> tuple[Path, bool]:
    """Compile the kernels into `directory` unless a build of these sources is there;
    (its path, whether it was compiled now). Builds of other sources are removed."""
    target = built_path(directory)
    if target.exists() and not force:
        return target, False
    try:
        with warnings.catch_warnings():
            # The pending deprecation is weighed in the module docstring; not news at build.
            warnings.simplefilter("ignore")
            from numba.pycc import CC
    except ImportError as exc:
        raise BuildError(f"this numba has no ahead-of-time compiler (numba.pycc): {exc}") from None
    from ._cycles import _normalize_cycles
    from ._kernels import _push
    from ._pace import _init_state, _reset

    kernels = {
        "push": _push,
        "init_state": _init_state,
        "reset": _reset,
        "normalize_cycles": _normalize_cycles,
    }
    with tempfile.TemporaryDirectory(prefix="gaitlink-gait-build-") as tmp:
        cc = CC(module_name())
        cc.output_dir = tmp
        for name, kernel in kernels.items():
            cc.export(name, SIGNATURES[name])(kernel.py_func)
        try:
            cc.compile()
        except Exception as exc:  # distutils' compiler errors have no common base
            raise BuildError(
                f"compiling the gait kernels failed ({type(exc).__name__}: {exc}); it needs a C "
                "compiler and the Python headers (tools/setup.sh installs them)"
            ) from exc
        built = Path(tmp) / cc.output_file
        try:
            # Copied beside the target, then renamed: an import never sees half a file.
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(built, partial)
            partial.replace(target)
        except OSError as exc:
            raise BuildError(f"cannot write the build into {directory}: {exc}") from None
    for stale in directory.glob(PREFIX + "*"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target, True


def main(force: bool = False) -> int:
    """The CLI's handler: one line on success, one line and exit 2 on failure."""
    import sys

    started = time.perf_counter()
    try:
        path, made = build(force=force)
    except BuildError as exc:
        print(f"gaitlink gait build: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(f"gait kernels {'compiled' if made else 'already built'}: {path} ({seconds:.1f} s)")
    return 0
