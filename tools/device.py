"""Run the real firmware as a simulated device on this host.

The firmware in `firmware/` runs unchanged under the MicroPython unix port; `board.py`
sees `sys.platform != "esp32"` and builds the register-level sensor simulator from
`hardware/sim`. Like a deploy to a board, the sources are first compiled with `mpy-cross`
(the unix port then loads bytecode, not source, which is what fits in an ESP32-sized heap),
and the per-device values go into a `device.json` the firmware reads from its working
directory. Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from gaitlink.secrets import write_secret
from gaitlink.tools.stack.ports import free_port
from gaitlink.tools.stack.state import default_state_dir

# Both are package data of the installed distribution, so a wheel runs devices too.
FIRMWARE_DIR = Path(str(resources.files("gaitlink.firmware")))
SIM_DIR = Path(str(resources.files("gaitlink.hardware.sim")))


def default_device_dir() -> Path:
    return default_state_dir() / "devices"


class DeviceError(RuntimeError):
    """The simulated device failed, timed out or printed no summary."""

    def reason(self) -> str:
        """One line: the firmware's own error (e.g. `rate_hz: ...`) if it printed one."""
        lines = str(self).splitlines()
        errors = [line for line in lines if line.startswith(("ValueError: ", "OSError: "))]
        return errors[-1].split(": ", 1)[1] if errors else lines[0]


def find_tool(name: str) -> str:
    """`name` next to the running interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise DeviceError(
            f"{name} not found next to {sys.executable} or on PATH; "
            "install the dev extra: pip install -e '.[dev]'"
        )
    return found


def is_package_marker(rel: str) -> bool:
    """An __init__.py: the host's package marker, not firmware. MicroPython imports a folder
    without one, and each compiled marker would hold ~0.4 kB of the device's heap."""
    return rel == "__init__.py" or rel.endswith("/__init__.py")


def mpy_cross_command(src: Path, target: Path, rel: str) -> list[str]:
    """mpy-cross as every build of the firmware runs it (devices here, releases, deploys).

    No line-number tables: on a 100 kB heap they cost ~1.3 kB with the app resident, and
    more while a config is checked (a traceback then names the module and the function).
    The source name is the module's dotted name, a qstr the import makes anyway: a path
    would be one more qstr per module, for good (qstrs are never freed, and the app runs
    close to the point where the interpreter adds a 7 kB qstr pool).
    """
    name = rel.removesuffix(".py").replace("/", ".")
    return [
        find_tool("mpy-cross"),
        "-X",
        "no-source-lines",
        "-s",
        name,
        "-o",
        str(target),
        str(src),
    ]


def _sources() -> list[tuple[Path, str]]:
    """(source file, module path inside the deployed tree) for firmware and simulator."""
    files = [(p, p.relative_to(FIRMWARE_DIR).as_posix()) for p in FIRMWARE_DIR.rglob("*.py")]
    files += [(p, "sim/" + p.relative_to(SIM_DIR).as_posix()) for p in SIM_DIR.rglob("*.py")]
    return sorted((f for f in files if not is_package_marker(f[1])), key=lambda f: f[1])


def build_firmware(state_dir: Path) -> Path:
    """Compile firmware + simulator to .mpy under state_dir, reused while sources are unchanged."""
    files = _sources()
    digest = hashlib.sha256()
    for path, rel in files:
        digest.update(rel.encode() + b"\0" + path.read_bytes())
    out = Path(state_dir) / "build" / digest.hexdigest()[:16]
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tmp-"))
    try:
        for path, rel in files:
            target = tmp / rel[:-3]
            target.parent.mkdir(parents=True, exist_ok=True)
            res = subprocess.run(
                mpy_cross_command(path, Path(f"{target}.mpy"), rel), capture_output=True, text=True
            )
            if res.returncode:
                raise DeviceError(f"mpy-cross failed on {path}: {res.stderr.strip()}")
        try:
            tmp.rename(out)
        except OSError:  # another runner built the same tree first
            if not out.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@dataclass
class DeviceProcess:
    """A running simulated device; `wait()` returns its summary."""

    device_id: str
    workdir: Path
    proc: subprocess.Popen
    _files: list = field(default_factory=list, repr=False)
    sim: subprocess.Popen | None = None  # hardware/simbus.py serving the sensors

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "stderr.log"

    def _close_files(self) -> None:
        if self.sim is not None:
            if self.sim.poll() is None:
                self.sim.kill()
            self.sim.wait()
            self.sim.stdout.close()
        for f in self._files:
            f.close()
        self._files.clear()

    def _tail(self, n: int = 20) -> str:
        lines = []
        for p in (self.stdout_path, self.stderr_path):
            if p.exists():
                lines += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(lines[-n:])

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def wait(self, timeout: float) -> dict:
        """Wait for a bounded run to end; its summary dict, or DeviceError with the log tail."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DeviceError(
                f"device {self.device_id} still running after {timeout:.0f} s:\n{self._tail()}"
            ) from None
        self._close_files()
        if rc != 0:
            raise DeviceError(f"device {self.device_id} exited with {rc}:\n{self._tail()}")
        for line in reversed(self.stdout_path.read_text().splitlines()):
            if line.startswith('{"summary"'):
                return json.loads(line)["summary"]
        raise DeviceError(f"device {self.device_id} printed no summary:\n{self._tail()}")

    def __enter__(self) -> DeviceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def start_device(
    device_id: str,
    host: str,
    port: int,
    *,
    seed: int,
    rate_hz: int = 100,
    max_samples: int | None = None,
    samples_per_frame: int = 50,
    heap: str = "100k",
    state_dir: str | os.PathLike | None = None,
    extra: dict | None = None,
    warp: int = 1,
    restart: bool = False,
) -> DeviceProcess:
    """Start the firmware as device `device_id` against the broker at host:port.

    `max_samples` bounds the run (the firmware flushes, says goodbye and prints a summary);
    None runs until killed. `extra` adds further device.json fields (see firmware/config.py),
    e.g. mqtt_user/mqtt_password or ring_bytes. Invalid values make the firmware exit with
    a ValueError that names the field, which `wait()` reports. `restart=True` starts the
    same device again as a reboot would: its crash count (safe mode) carries over. The
    sensors are served by hardware/simbus.py in a process of their own (outside the
    device's heap). `warp` > 1 runs the device's clock (and the simulator's) that many times
    faster than real time.
    """
    state_dir = Path(state_dir) if state_dir is not None else default_device_dir()
    build = build_firmware(state_dir)
    workdir = state_dir / device_id
    workdir.mkdir(parents=True, exist_ok=True)
    values = {
        "device_id": device_id,
        "broker_host": host,
        "broker_port": port,
        "rate_hz": rate_hz,
        "samples_per_frame": samples_per_frame,
        "max_samples": max_samples or 0,
        "seed": seed,
    }
    values.update(extra or {})
    if not restart:
        # a fresh deploy: the crash count of earlier runs (firmware/safemode.py) is not its
        (workdir / "crashes.json").unlink(missing_ok=True)
    values["sim"] = dict(values.get("sim") or {}, bus=free_port())
    # It holds the MQTT (and on a board the Wi-Fi) password: owner-only, never half written.
    write_secret(workdir / "device.json", json.dumps(values, indent=2))
    # The compiled tree as `lib` in the device's folder, as on a board (/lib): every module's
    # __file__ is a qstr for good, and an absolute build path in each would cost ~1 kB of heap
    lib = workdir / "lib"
    if lib.is_symlink() or lib.exists():
        lib.unlink()
    lib.symlink_to(build, target_is_directory=True)
    warp_path = "lib/sim/warp:" if warp > 1 else ""
    env = dict(os.environ, MICROPYPATH=f".frozen:{warp_path}lib", GAITLINK_WARP=str(warp))
    out = (workdir / "stdout.log").open("w")
    err = (workdir / "stderr.log").open("w")
    sim = _start_simbus(workdir, values["sim"]["bus"], env, err)
    proc = subprocess.Popen(
        [find_tool("micropython"), "-X", f"heapsize={heap}", "-m", "main"],
        cwd=workdir,
        env=env,
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
    )
    return DeviceProcess(device_id, workdir, proc, [out, err], sim)


def _start_simbus(workdir: Path, port: int, env: dict, err) -> subprocess.Popen:
    sim = subprocess.Popen(
        [sys.executable, "-m", "gaitlink.hardware.simbus", str(workdir / "device.json"), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    if sim.stdout.readline().strip() != "ready":
        sim.kill()
        sim.wait()
        sim.stdout.close()
        raise DeviceError(f"the sensor simulator did not start (see {workdir}/stderr.log)")
    return sim


def _stack_login(device_id: str) -> dict:
    """The device's account on the local stack's site broker, if `broker add-device` made
    one; else none (a broker without accounts, or one that will refuse the device)."""
    from gaitlink.tools.stack import accounts

    if device_id in accounts.device_ids(default_state_dir()):
        return accounts.add_device(default_state_dir(), device_id).device_fields()
    return {}


def _run(args: argparse.Namespace) -> int:
    from gaitlink.mqtt.endpoint import Endpoint

    try:
        broker = Endpoint.parse(args.broker, what="--broker")
    except ValueError as exc:
        print(f"gaitlink device: {exc}", file=sys.stderr)
        return 2
    from gaitlink.tools.stack.errors import StackError

    max_samples = int(args.seconds * args.rate) if args.seconds else None
    try:
        login = _stack_login(args.id)
    except (StackError, ValueError) as exc:  # a bad id, an exposed password file
        print(f"gaitlink device: {exc}", file=sys.stderr)
        return 2
    try:
        dev = start_device(
            args.id,
            broker.host,
            broker.port,
            seed=args.seed,
            rate_hz=args.rate,
            max_samples=max_samples,
            samples_per_frame=args.samples_per_frame,
            heap=args.heap,
            state_dir=args.state_dir,
            extra=login,
        )
        with dev:
            if max_samples is None:
                return dev.proc.wait()
            summary = dev.wait(timeout=args.seconds + 60)
    except DeviceError as exc:
        # the firmware validates its config; name the option to change, not a traceback
        field = exc.reason().split(":", 1)[0]
        hint = _OPTION_OF_FIELD.get(field)
        fix = f"; change {hint}" if hint else " (the device's stderr.log has the details)"
        print(f"gaitlink device: {exc.reason()}{fix}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


# device.json fields the `device run` options set
_OPTION_OF_FIELD = {
    "device_id": "--id",
    "rate_hz": "--rate",
    "samples_per_frame": "--samples-per-frame",
    "seed": "--seed",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "device", help="run the firmware as a simulated device (MicroPython unix port)"
    )
    sub = p.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="start one simulated device and wait for its summary")
    run.add_argument("--id", required=True, help="device id, e.g. gl-0001")
    run.add_argument(
        "--broker",
        default=os.environ.get("GAITLINK_SITE_MQTT_URL", "127.0.0.1:1883"),
        help="site broker, host:port (default $GAITLINK_SITE_MQTT_URL or 127.0.0.1:1883)",
    )
    run.add_argument(
        "--seconds", type=float, default=10.0, help="samples to take, in seconds (0: forever)"
    )
    run.add_argument("--rate", type=int, default=100, help="sample rate, Hz (divides 1000)")
    run.add_argument("--seed", type=int, default=1, help="simulated wearer (motion model seed)")
    run.add_argument("--samples-per-frame", type=int, default=50)
    run.add_argument("--heap", default="100k", help="MicroPython heap size (ESP32-like: 100k)")
    run.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="builds and device dirs (default: STATE/devices)",
    )
    run.set_defaults(func=_run)

    from gaitlink.tools import device_admin, device_flash

    device_admin.register(sub)
    device_flash.register(sub)
