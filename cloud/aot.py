"""numba kernels compiled ahead of time: the build and the loader, for the cloud's rooms.

Why: a process that JIT-compiles (or loads from numba's cache) a kernel carries numba and
LLVM in memory, ~100 MB of RSS before the first call and ~50 MB more after; a build is a
plain C extension that needs only numpy (+0.4 MB).

How: numba.pycc, numba's ahead-of-time compiler. It is pending deprecation since numba
0.57, with no replacement released yet; if a numba without it is installed, the build fails
with one line and each room falls back to what it runs without a build (the gait kernels:
numba's JIT; the ingest's line encoder: Python). It needs a C compiler and the Python
headers (tools/setup.sh installs them). The code is compiled for the architecture's generic
CPU, not this host's, so a build stays valid on any machine of the architecture.

A build's module name carries a digest of the sources it is made of (the room's kernel
modules and this file), so a build of other sources is never loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

_THIS = Path(__file__)


class BuildError(Exception):
    """The build could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class KernelBuild:
    """A room's kernels, built into `<package>.<stem>_<digest>`.

    `exports`: exported name -> (module of the room, function, numba signature). The
    signatures must be the only types the room's public layer passes (contiguous arrays of
    the kernel's dtype), as a build takes no others.
    """

    package: str  # e.g. "gaitlink.cloud.gait"
    directory: Path  # the package's folder: the sources, and where the build goes
    stem: str
    sources: tuple[str, ...]  # globs in `directory`
    exports: dict[str, tuple[str, str, str]]

    def digest(self, directory: Path | None = None) -> str:
        where = directory or self.directory
        paths = sorted({p for pattern in self.sources for p in where.glob(pattern)})
        digest = hashlib.sha256()
        for path in [*paths, _THIS]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:16]

    def module_name(self) -> str:
        return f"{self.stem}_{self.digest()}"

    def path(self, directory: Path | None = None) -> Path:
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        return (directory or self.directory) / (self.module_name() + suffix)

    def load(self) -> tuple[ModuleType | None, str | None]:
        """The build of the sources as they are, or (None, why not)."""
        try:
            return importlib.import_module(f"{self.package}.{self.module_name()}"), None
        except ImportError as exc:  # none built for these sources, or it does not load
            return None, f"the ahead-of-time build is not there ({exc})"

    def build(self, directory: Path | None = None, force: bool = False) -> tuple[Path, bool]:
        """Compile into `directory` (the package's own by default) unless a build of these
        sources is there: (its path, whether it was compiled now). Builds of other sources
        there are removed."""
        where = directory or self.directory
        target = self.path(where)
        if target.exists() and not force:
            return target, False
        with tempfile.TemporaryDirectory(prefix="gaitlink-aot-") as tmp:
            built = _compile_in_child(self, Path(tmp))
            try:
                # Copied beside the target, then renamed: an import never sees half a file.
                partial = target.with_name(target.name + ".partial")
                shutil.copyfile(built, partial)
                partial.replace(target)
            except OSError as exc:
                raise BuildError(f"cannot write the build into {where}: {exc}") from None
        for stale in where.glob(f"{self.stem}_*"):
            if stale != target:
                stale.unlink(missing_ok=True)
        return target, True


def _compile_in_child(kernels: KernelBuild, tmp: Path) -> Path:
    """Compile in a fresh interpreter whose numba cache is an empty directory.

    numba's on-disk cache checks only the timestamp of the file that defines a function,
    not the files it inlines from (cloud/gait/_config.py), and compiling an export compiles
    its callees through that cache: after a kernel module changed, a build made in this
    process could bake in stale code that the digest would then vouch for. A child with
    its own empty cache compiles everything from the sources (and costs the full compile
    time, 10-60 s, once per change of the sources)."""
    job = {
        "package": kernels.package,
        "module": kernels.module_name(),
        "exports": kernels.exports,
        "out": str(tmp),
    }
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba-cache")}
    done = subprocess.run(
        [sys.executable, "-m", "gaitlink.cloud.aot", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        raise BuildError(
            f"compiling {kernels.package}'s kernels failed: {lines[-1]}; it needs numba with "
            "numba.pycc, a C compiler and the Python headers (tools/setup.sh installs them)"
        )
    return Path(done.stdout.strip().splitlines()[-1])


def _compile(job: dict) -> Path:
    """The child's side of `_compile_in_child`: compile, print the extension's path."""
    with warnings.catch_warnings():
        # The pending deprecation is weighed in the module docstring.
        warnings.simplefilter("ignore")
        from numba.pycc import CC
    cc = CC(job["module"])
    cc.output_dir = job["out"]
    for name, (module, function, signature) in job["exports"].items():
        kernel = getattr(importlib.import_module(f"{job['package']}.{module}"), function)
        cc.export(name, signature)(getattr(kernel, "py_func", kernel))
    _compile_releasing_gil(cc)
    return Path(job["out"]) / cc.output_file


def _compile_releasing_gil(cc) -> None:
    """cc.compile(), with wrappers that release the GIL around each call, as the JIT's
    `nogil=True` does: pycc takes no such option and builds its flags itself, so its
    `Flags` is swapped for the build's time (pycc is frozen, pending deprecation)."""
    from numba.pycc import compiler

    class ReleasingGil(compiler.Flags):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    original, compiler.Flags = compiler.Flags, ReleasingGil
    try:
        cc.compile()
    finally:
        compiler.Flags = original


def add_build_parser(actions, what: str, module: str, help: str, description: str) -> None:
    """A room's `build` subcommand (`gaitlink gait build`, `gaitlink ingest build`); ``module``
    holds the room's ``BUILD``, imported only when the command runs."""
    build = actions.add_parser("build", help=help, description=description)
    build.add_argument("--force", action="store_true", help="compile even if built")
    build.set_defaults(
        func=lambda args: build_command(what, importlib.import_module(module).BUILD, args.force)
    )


def build_command(what: str, kernels: KernelBuild, force: bool) -> int:
    """A room's `build` subcommand: one line on success, one line and exit 2 on failure."""
    import sys
    import time

    started = time.perf_counter()
    try:
        path, made = kernels.build(force=force)
    except BuildError as exc:
        print(f"gaitlink {what} build: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(f"{what} kernels {'compiled' if made else 'already built'}: {path} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    print(_compile(json.loads(sys.argv[1])))
