"""The ingest's line encoder compiled ahead of time (`gaitlink ingest build`, run by
tools/setup.sh; cloud/aot.py), or None when there is no build of the current sources:
points.py then formats in Python, the same bytes, slower. numba is never loaded here."""

from __future__ import annotations

from pathlib import Path

from gaitlink.cloud.aot import KernelBuild

BUILD = KernelBuild(
    package=__package__,
    directory=Path(__file__).parent,
    stem="_lines_aot",
    sources=("_lines.py", "_compiled.py"),
    exports={
        "imu_text": (
            "_lines",
            "_imu_text",
            "int64(int64[:, ::1], int64, int64, uint8[::1], int64[::1], uint8[::1])",
        ),
    },
)

_built, WHY_NOT = BUILD.load()
imu_text = None if _built is None else _built.imu_text
