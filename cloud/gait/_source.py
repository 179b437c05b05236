"""Which sources an ahead-of-time build of the gait kernels is made of (`aot.py`), and so
the module name that build gets: one that only these sources can have."""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).parent
PREFIX = "_kernels_aot_"


def source_digest(directory: Path = HERE) -> str:
    """Every private module of the room (the kernels, their layout and compile options) and
    the build's exported signatures."""
    digest = hashlib.sha256()
    for path in [*sorted(directory.glob("_*.py")), directory / "aot.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def module_name() -> str:
    """The extension module's name for the sources as they are now."""
    return PREFIX + source_digest()
