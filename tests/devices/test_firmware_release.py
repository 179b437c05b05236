"""Firmware releases and offers (cloud side): the manifest and its parser, the signed
offer, the canary choice, the rollout registry, and `gaitlink firmware release|rollout|
status|halt` with its refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.protocol.ota import (
    OtaError,
    OtaReport,
    manifest_text,
    offer_message,
    offer_text,
    parse_manifest,
)
from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.cloud.registry.firmware import FirmwareStore
from gaitlink.mqtt.oneshot import read_retained
from gaitlink.tools.firmware import canary

REPO = Path(__file__).resolve().parents[2]
_NAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)


@given(
    st.lists(st.tuples(_NAME, st.booleans(), st.binary(max_size=64)), max_size=8),
    st.from_regex(r"\A[0-9][0-9a-z.+_-]{0,10}\Z"),
)
def test_manifest__parse_gives_back_every_file_with_its_size_and_digest(files, version) -> None:
    named = {(f"drivers/{n}.mpy" if sub else f"{n}.mpy"): data for n, sub, data in files}
    got_version, got = parse_manifest(manifest_text(version, list(named.items())))
    assert got_version == version
    assert got == sorted((p, len(d), hashlib.sha256(d).hexdigest()) for p, d in named.items())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "first line"),
        ("gaitlink-release\n", "first line"),
        ("gaitlink-release 1.0\nabc 12\n", "expected `sha256 size path`"),
        ("gaitlink-release 1.0\nabc x app.mpy\n", "expected `sha256 size path`"),
        ("gaitlink-release 1.0\nabc 1 ../app.mpy\n", "a .mpy module"),
        ("gaitlink-release ../x\n", "release version"),
    ],
)
def test_manifest__invalid_names_what_is_wrong(text, why) -> None:
    with pytest.raises(OtaError, match=re.escape(why)):
        parse_manifest(text)


def test_offer__is_signed_over_ota_newline_text_and_names_the_manifest() -> None:
    manifest = manifest_text("0.2.0", [("app.mpy", b"x" * 10)])
    text = offer_text(manifest, 3, "http://10.0.0.1:8080/firmware/0.2.0", 60, 600)
    body = json.loads(text)
    assert body["n"] == 3 and body["version"] == "0.2.0"
    assert body["url"] == "http://10.0.0.1:8080/firmware/0.2.0/"
    assert body["manifest"] == [len(manifest), hashlib.sha256(manifest.encode()).hexdigest()]
    key = os.urandom(32)
    msg = json.loads(offer_message(key, text))
    assert msg["offer"] == text
    assert msg["sig"] == hmac.new(key, b"ota\n" + text.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(OtaError, match="confirm-s"):
        offer_text(manifest, 3, "http://x/", 600, 60)


def test_canary__is_stable_and_a_larger_share_extends_it() -> None:
    ids = [f"gl-{i:04d}" for i in range(200)]
    ten = canary(ids, "0.2.0", 10)
    assert len(ten) == 20 and ten == canary(list(reversed(ids)), "0.2.0", 10)
    assert set(ten) < set(canary(ids, "0.2.0", 50))
    assert len(canary(ids, "0.2.0", 0.1)) == 1  # at least one device
    assert set(canary(ids, "0.3.0", 10)) != set(ten)  # each release draws its own


def test_firmware_store__offers_count_up_per_device_and_reports_land_on_their_offer(
    tmp_path,
) -> None:
    conn = open_registry(tmp_path / "registry.sqlite3")
    devices, firmware = DeviceStore(conn), FirmwareStore(conn)
    devices.provision("gl-1", "foot", "left")
    assert firmware.offer("gl-1", "0.2.0") == 1
    assert firmware.offer("gl-1", "0.3.0") == 2
    assert firmware.offer("gl-1", "0.2.0") == 3  # offered again: a new number
    assert firmware.record("gl-1", OtaReport(n=3, version="0.2.0", state="trial", gap_ms=950))
    assert not firmware.record("gl-1", OtaReport(n=9, version="0.2.0", state="confirmed"))
    (row,) = firmware.of_version("0.2.0")
    assert (row.offer, row.state, row.detail) == (3, "trial", "reboot gap 950 ms")
    assert [r.version for r in firmware.of_device("gl-1")] == ["0.3.0", "0.2.0"]


def _cli(tmp_path, *args, env=None):
    env = {**os.environ, "GAITLINK_STATE_DIR": str(tmp_path / "state"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_firmware_cli__release_compiles_every_app_module_but_the_boot_loader(tmp_path) -> None:
    done = _cli(tmp_path, "firmware", "release", str(REPO / "firmware"), "--version", "0.2.0")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "state" / "firmware" / "0.2.0"
    version, files = parse_manifest((out / "manifest.txt").read_text())
    names = {f[0] for f in files}
    assert version == "0.2.0"
    assert {"app.mpy", "ota.mpy", "fwapp.mpy", "drivers/mpu6050.mpy"} <= names
    assert not names & {"main.mpy", "fwboot.mpy", "__init__.mpy"}
    for path, size, digest in files:
        data = (out / path).read_bytes()
        assert data[:1] == b"M" and len(data) == size  # mpy-cross output
        assert hashlib.sha256(data).hexdigest() == digest
    assert b"0.2.0" in (out / "app.mpy").read_bytes()  # the version is among the files
    again = _cli(tmp_path, "firmware", "release", str(REPO / "firmware"), "--version", "0.2.0")
    assert again.returncode == 2 and "never changes" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("release", "REPO/docs", "--version", "1.0"), "not a firmware directory"),
        (("release", "REPO/firmware", "--version", "../1"), "release version"),
        (("rollout", "9.9", "--all", "--url", "http://127.0.0.1:1"), "no release 9.9"),
        (("rollout", "9.9", "--all"), "--url"),
        (("rollout", "9.9", "--percent", "0", "--url", "http://x:1"), "no release 9.9"),
        (("rollout", "9.9", "--devices", "gl-x", "--url", "ftp://x"), "--url"),
    ],
)
def test_firmware_cli__refusals_are_one_line(tmp_path, args, message) -> None:
    args = [a.replace("REPO", str(REPO)) for a in args]
    done = _cli(tmp_path, "firmware", *args, env={"GAITLINK_FIRMWARE_URL": ""})
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_firmware_cli__rollout_publishes_signed_retained_offers_and_halt_withdraws(
    stack, tmp_path
) -> None:
    env = {**stack.env(), "GAITLINK_FIRMWARE_URL": "http://127.0.0.1:8080"}
    for d in ("fw-cli-1", "fw-cli-2", "fw-cli-3"):
        assert (
            _cli(tmp_path, "device", "provision", d, "--placement", "foot", env=env).returncode == 0
        )
    assert _cli(tmp_path, "firmware", "release", str(REPO / "firmware"), "--version", "0.2.0",
                env=env).returncode == 0  # fmt: skip
    done = _cli(tmp_path, "firmware", "rollout", "0.2.0", "--devices", "fw-cli-1,fw-cli-2",
                "--confirm-s", "30", "--deadline-s", "90", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    store = DeviceStore(open_registry(tmp_path / "state" / "registry.sqlite3"))
    operator = stack.cloud_endpoint(stack.account("operator"))
    topic = "gaitlink/v1/fw-cli-1/ota"
    msg = json.loads(read_retained(operator, [topic])[topic])
    key = store.get("fw-cli-1").key
    assert msg["sig"] == hmac.new(key, b"ota\n" + msg["offer"].encode(), "sha256").hexdigest()
    offer = json.loads(msg["offer"])
    assert (offer["n"], offer["confirm_s"], offer["deadline_s"]) == (1, 30, 90)
    assert offer["url"] == "http://127.0.0.1:8080/firmware/0.2.0/"

    # --all leaves the two already offered alone
    done = _cli(tmp_path, "firmware", "rollout", "0.2.0", "--all", env=env)
    assert "fw-cli-3: offer 1" in done.stdout and "fw-cli-1" not in done.stdout
    shown = _cli(tmp_path, "firmware", "status", "0.2.0", "--json", env=env)
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert {r["device"]: r["state"] for r in rows} == dict.fromkeys(
        ("fw-cli-1", "fw-cli-2", "fw-cli-3"), "offered"
    )
    done = _cli(tmp_path, "firmware", "halt", "0.2.0", env=env)
    assert "3 offer(s) withdrawn" in done.stdout, done.stderr
    assert topic not in read_retained(operator, [topic])  # cleared
