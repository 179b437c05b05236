"""`gaitlink firmware release|rollout|status|halt`: over-the-air firmware updates.

`release DIR --version V` compiles the firmware modules of DIR with mpy-cross into the
release store (STATE/firmware/V/, which the cloud service serves at /firmware/V/) with a
manifest of every file's size and sha256. `rollout V` picks devices (all, a list, or a
stable percentage: the canary), signs an offer per device with that device's key and
publishes it retained on the device's `ota` topic; the registry records each offer.
`status V` reads each device's retained status and records where its update stands.
docs/protocol.md §3.5 has the offer and the manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gaitlink.tools.device_admin import PREFIX, _cloud_argument, _endpoint, _guarded, _Refused
from gaitlink.tools.stack.state import default_state_dir

# Not in a release: the boot loader that picks and checks a release (and main.py, which
# the board boots). A broken update of these could not roll itself back, so they change
# only with `gaitlink device deploy`, over USB.
BOOT_FILES = ("main.py", "fwboot.py")
_STORE_ENV = "GAITLINK_FIRMWARE_DIR"
_URL_ENV = "GAITLINK_FIRMWARE_URL"


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("firmware", help="firmware releases and their rollout (OTA)")
    sub = top.add_subparsers(dest="firmware_command", metavar="ACTION", required=True)
    rel = sub.add_parser("release", help="compile and store a firmware release with its manifest")
    rel.add_argument("dir", type=Path, metavar="DIR", help="firmware sources (e.g. firmware/)")
    rel.add_argument("--version", required=True, help="release version, e.g. 0.2.0")
    rel.set_defaults(func=_release)

    out = sub.add_parser("rollout", help="offer a release to devices (signed per device)")
    out.add_argument("version", metavar="VERSION")
    who = out.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="every provisioned device")
    who.add_argument("--devices", help="comma-separated device ids (offered again if need be)")
    who.add_argument("--percent", type=float, help="a stable canary share of all devices")
    out.add_argument(
        "--url",
        default=os.environ.get(_URL_ENV),
        help=f"the cloud service as the devices reach it, http://host:port (default ${_URL_ENV})",
    )
    out.add_argument("--confirm-s", type=int, default=300,
                     help="healthy run (connected, sampling, acknowledged) before the device "
                     "confirms the new version (default 300)")  # fmt: skip
    out.add_argument("--deadline-s", type=int, default=900,
                     help="not confirmed this long after its boot: the device rolls back "
                     "(default 900)")  # fmt: skip
    _cloud_argument(out)
    out.set_defaults(func=_rollout)

    st = sub.add_parser("status", help="where each device's update stands")
    st.add_argument("version", metavar="VERSION")
    st.add_argument("--json", action="store_true", help="one JSON object per device")
    _cloud_argument(st)
    st.set_defaults(func=_status)

    halt = sub.add_parser("halt", help="withdraw the offers devices have not taken yet")
    halt.add_argument("version", metavar="VERSION")
    _cloud_argument(halt)
    halt.set_defaults(func=_halt)

    for p in (rel, out, st, halt):
        p.add_argument("--store", type=Path, default=None,
                       help=f"releases (default ${_STORE_ENV} or STATE_DIR/firmware)")  # fmt: skip
        p.add_argument("--registry", default=None,
                       help="registry database (default STATE_DIR/registry.sqlite3)")  # fmt: skip


def release_store(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return args.store
    return Path(os.environ.get(_STORE_ENV) or default_state_dir() / "firmware")


def _stores(args: argparse.Namespace):
    from gaitlink.cloud.registry.db import FILENAME, open_registry
    from gaitlink.cloud.registry.devices import DeviceStore
    from gaitlink.cloud.registry.firmware import FirmwareStore

    path = Path(args.registry) if args.registry else default_state_dir() / FILENAME
    conn = open_registry(path)
    return DeviceStore(conn), FirmwareStore(conn)


def _ota_guarded(func):
    def run(args: argparse.Namespace) -> int:
        from gaitlink.cloud.protocol.ota import OtaError

        try:
            return func(args)
        except OtaError as exc:
            raise _Refused(str(exc)) from None

    return _guarded(run)


def release_files(src: Path) -> list[tuple[Path, str]]:
    """(source, module path in the release) of every firmware module of `src`."""
    from gaitlink.tools.device import is_package_marker

    files = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel in BOOT_FILES or is_package_marker(rel):
            continue
        files.append((path, rel))
    return files


def _with_version(app_source: str, version: str) -> str:
    """app.py with its FIRMWARE_VERSION set to `version`."""
    pattern = re.compile(r'^FIRMWARE_VERSION = "[^"\n]*"', re.MULTILINE)
    if len(pattern.findall(app_source)) != 1:
        raise _Refused('app.py: expected one line `FIRMWARE_VERSION = "..."` to set')
    return pattern.sub(f'FIRMWARE_VERSION = "{version}"', app_source)


def build_release(src: Path, version: str, store: Path) -> Path:
    """Compile `src` into store/version/ (made whole, then renamed into place)."""
    from gaitlink.cloud.protocol.ota import MANIFEST, check_version, manifest_text
    from gaitlink.tools.device import mpy_cross_command

    check_version(version)
    if not src.is_dir() or not (src / "app.py").is_file():
        raise _Refused(f"{src}: not a firmware directory (no app.py); give e.g. firmware/")
    out = store / version
    if out.exists():
        raise _Refused(f"release {version} exists ({out}); a release never changes: "
                       "give the new code a new version")  # fmt: skip
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=store, prefix=".tmp-"))
    try:
        # the running version is part of the signed files (app.py's constant), not a setting
        app_src = tmp / "app.py"
        app_src.write_text(_with_version((src / "app.py").read_text(), version))
        sources = [(app_src, rel) if rel == "app.py" else (p, rel) for p, rel in release_files(src)]
        compiled = []
        for path, rel in sources:
            target = tmp / "files" / (rel[:-3] + ".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(mpy_cross_command(path, target, rel),
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode:
                raise _Refused(f"mpy-cross refused {path}: {done.stderr.strip()}")
            compiled.append((rel[:-3] + ".mpy", target.read_bytes()))
        app_src.unlink()
        files = tmp / "files"
        (files / MANIFEST).write_text(manifest_text(version, compiled))
        files.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_manifest(store: Path, version: str) -> str:
    from gaitlink.cloud.protocol.ota import MANIFEST, check_version, parse_manifest

    check_version(version)
    path = store / version / MANIFEST
    try:
        text = path.read_text()
        parse_manifest(text)
        return text
    except FileNotFoundError:
        raise _Refused(f"no release {version} in {store}: make it with `gaitlink firmware "
                       "release DIR --version ...`") from None  # fmt: skip


@_ota_guarded
def _release(args: argparse.Namespace) -> int:
    from gaitlink.cloud.protocol.ota import parse_manifest

    out = build_release(args.dir, args.version, release_store(args))
    _, files = parse_manifest(load_manifest(release_store(args), args.version))
    size = sum(f[1] for f in files)
    print(f"release {args.version}: {len(files)} files, {size} bytes in {out}")
    print(f"roll it out with `gaitlink firmware rollout {args.version} --percent 10 ...`")
    return 0


def canary(device_ids: list[str], version: str, percent: float) -> list[str]:
    """A stable share of the devices: ordered by a hash of (version, id), so a larger
    percentage of the same release extends the same set instead of drawing a new one."""
    if not 0 < percent <= 100:
        raise _Refused(f"--percent {percent}: between 0 (excluded) and 100")
    ranked = sorted(device_ids, key=lambda d: hashlib.sha256(f"{version}/{d}".encode()).digest())
    return ranked[: math.ceil(len(ranked) * percent / 100)]


def _targets(args: argparse.Namespace, devices, firmware) -> list[str]:
    if args.devices:
        wanted = [d.strip() for d in args.devices.split(",") if d.strip()]
        for device_id in wanted:
            devices.get(device_id)  # refuses one that was never provisioned
        return wanted
    known = [d.id for d in devices.list()]
    chosen = known if args.all else canary(known, args.version, args.percent)
    # a wider rollout of the same release leaves the devices it already reached alone
    offered = {r.device for r in firmware.of_version(args.version)}
    return [d for d in chosen if d not in offered]


@_ota_guarded
def _rollout(args: argparse.Namespace) -> int:
    from gaitlink.cloud.protocol.ota import offer_message, offer_text
    from gaitlink.mqtt.link import LinkError
    from gaitlink.mqtt.oneshot import publish_retained

    if not args.url or not args.url.startswith("http://"):
        raise _Refused(f"--url (or ${_URL_ENV}): the cloud service as devices reach it, "
                       "http://host:port")  # fmt: skip
    manifest = load_manifest(release_store(args), args.version)
    offer_text(manifest, 0, args.url, args.confirm_s, args.deadline_s)  # checks the terms
    endpoint = _endpoint(args)
    devices, firmware = _stores(args)
    targets = _targets(args, devices, firmware)
    url = f"{args.url.rstrip('/')}/firmware/{args.version}/"
    for device_id in targets:
        number = firmware.offer(device_id, args.version)
        text = offer_text(manifest, number, url, args.confirm_s, args.deadline_s)
        try:
            publish_retained(endpoint, f"{PREFIX}{device_id}/ota",
                             offer_message(devices.get(device_id).key, text))  # fmt: skip
        except LinkError as exc:
            raise _Refused(f"offer {number} to {device_id} stored but not published ({exc}); "
                           f"run the rollout again for {device_id}") from None  # fmt: skip
        print(f"{device_id}: offer {number} of {args.version} published (retained)")
    if not targets:
        print(f"no device to offer {args.version} to (all chosen ones have it already)")
    return 0


def refresh(devices, firmware, version: str, endpoint) -> list[dict]:
    """Each device offered `version`: its state, refreshed from its retained status."""
    from gaitlink.cloud.protocol.ota import OtaReport
    from gaitlink.mqtt.link import LinkError
    from gaitlink.mqtt.oneshot import read_retained

    rows = firmware.of_version(version)
    topics = [f"{PREFIX}{r.device}/status" for r in rows]
    note = None
    try:
        retained = read_retained(endpoint, topics) if topics else {}
    except LinkError as exc:
        retained, note = {}, f"cloud broker not reachable ({exc}); registry copy shown"
    running = {}
    for row in rows:
        try:
            status = json.loads(retained[f"{PREFIX}{row.device}/status"])
            running[row.device] = status.get("firmware_version")
            report = OtaReport.model_validate(status["ota"])
        except (KeyError, ValueError, TypeError):
            continue  # no status, or none with an update report yet
        firmware.record(row.device, report)
    out = []
    for row in firmware.of_version(version):
        at = datetime.fromtimestamp(row.updated_us / 1e6, UTC).isoformat(timespec="seconds")
        out.append({"device": row.device, "offer": row.offer, "state": row.state,
                    "detail": row.detail, "running": running.get(row.device),
                    "updated": at, "note": note})  # fmt: skip
    return out


@_ota_guarded
def _status(args: argparse.Namespace) -> int:
    devices, firmware = _stores(args)
    rows = refresh(devices, firmware, args.version, _endpoint(args))
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print(f"{args.version} was not offered to any device")
        return 0
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
        detail = f"  ({row['detail']})" if row["detail"] else ""
        print(f"{row['device']:<24} offer {row['offer']:<4} {row['state']:<12} "
              f"runs {row['running'] or '?'}{detail}")  # fmt: skip
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    if rows[0]["note"]:
        print(f"note: {rows[0]['note']}", file=sys.stderr)
    return 0


@_ota_guarded
def _halt(args: argparse.Namespace) -> int:
    from gaitlink.mqtt.oneshot import publish_retained

    devices, firmware = _stores(args)
    endpoint = _endpoint(args)
    rows = refresh(devices, firmware, args.version, endpoint)
    withdrawn = 0
    for row in rows:
        if row["state"] != "offered":
            continue  # taken already: the device finishes (or rolls back) on its own
        publish_retained(endpoint, f"{PREFIX}{row['device']}/ota", b"")  # clears the retained
        firmware.halt(row["device"], args.version)
        withdrawn += 1
    print(f"{args.version}: {withdrawn} offer(s) withdrawn; devices that took it go on")
    return 0
