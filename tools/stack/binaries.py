"""Finding the server executables the stack runs.

Debian installs mosquitto in /usr/sbin, which a normal user's PATH often lacks, so the
search looks at PATH and then the sbin directories. The directories are a parameter so a
test can search an empty list and see the real error message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gaitlink.tools.stack.errors import MissingBinary

SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin", "/sbin")

# Debian / Raspberry Pi OS package that provides each executable.
PACKAGES: dict[str, str] = {"mosquitto": "mosquitto", "influxd": "influxdb"}


def default_search_dirs() -> tuple[str, ...]:
    path_dirs = tuple(d for d in os.environ.get("PATH", "").split(os.pathsep) if d)
    return path_dirs + tuple(d for d in SBIN_DIRS if d not in path_dirs)


def _lookup(name: str, dirs: Sequence[str]) -> Path | None:
    for directory in dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_binaries(
    names: Sequence[str], search_dirs: Sequence[str] | None = None
) -> dict[str, Path]:
    """Path of each executable; one error naming every missing one and how to install it."""
    dirs = default_search_dirs() if search_dirs is None else tuple(search_dirs)
    found = {name: _lookup(name, dirs) for name in dict.fromkeys(names)}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        packages = " ".join(dict.fromkeys(PACKAGES.get(name, name) for name in missing))
        searched = ", ".join(dirs) or "(no directories)"
        raise MissingBinary(
            f"{' and '.join(f'`{name}`' for name in missing)} not found "
            f"(searched: {searched}).\n"
            f"Install with:  sudo apt-get install {packages}\n"
            f"or run tools/setup.sh, which installs everything the local stack needs."
        )
    return {name: path for name, path in found.items() if path is not None}


def find_binary(name: str, search_dirs: Sequence[str] | None = None) -> Path:
    return find_binaries([name], search_dirs)[name]
