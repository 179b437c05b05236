"""`gaitlink gait build` and `gaitlink ingest build`, one subcommand made by
`cloud/aot.add_build_parser`: with a build of the current sources there, each says so."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("room", "module"),
    [("gait", "gaitlink.cloud.gait._compiled"), ("ingest", "gaitlink.cloud.ingest._compiled")],
)
def test_build__cli__already_built(room: str, module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", room, "build"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{room} kernels already built: ")
    assert importlib.import_module(module).BUILD.module_name() in out.stdout
