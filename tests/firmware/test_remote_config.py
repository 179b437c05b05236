"""Signed remote configuration on the real firmware (MicroPython unix port, real mosquitto):
verify, reject, apply live, persist, roll back, report (docs/protocol.md §3.3, §3.4).

The desired messages are made by the cloud's own code (gaitlink.cloud.protocol.config), so
these tests also pin that the two sides agree on the signed bytes.
"""

from __future__ import annotations

import json
import os
import secrets
from itertools import pairwise

import paho.mqtt.publish as mqtt_publish
import pytest

from gaitlink.cloud.protocol.config import config_text, desired_message, signature
from gaitlink.tools.device import start_device
from tests.firmware.helpers import Subscriber

DEVICE = "gl-conf-1"
# The ESP32-sized heap the firmware is built for (docs/firmware.md, "Heap"): a config is
# checked and applied with more than 10 kB free at the low point (heap_free_applying).
HEAP = "100k"
MARGIN = 10 * 1024
TOPIC = f"gaitlink/v1/{DEVICE}/config/desired"
OFFSET = [0.01, 0.0, -0.02]  # a gyro calibration, rad/s


def _desired(key: bytes, version: int, values: dict, *, sign_with: bytes | None = None) -> bytes:
    text = config_text(values)
    sig = signature(sign_with or key, version, text)
    return desired_message(version, text, sig, "2026-12-01T00:00:00Z")


def _send(port: int, payload: bytes) -> None:
    mqtt_publish.single(TOPIC, payload, qos=1, retain=True, hostname="127.0.0.1", port=port)


def _reports(sub: Subscriber) -> list[dict]:
    return [json.loads(p) for _t, p, _r in sub.on(f"/{DEVICE}/config/reported")]


def _exchange(sub: Subscriber, port: int, payload: bytes, timeout: float = 15) -> dict:
    """Send one desired message; the device's next report."""
    before = len(_reports(sub))
    _send(port, payload)
    assert sub.wait_for(lambda: len(_reports(sub)) > before, timeout), "no config/reported"
    return _reports(sub)[before]


def _start(port: int, tmp_path, key: bytes, **extra):
    return start_device(
        DEVICE,
        "127.0.0.1",
        port,
        seed=7,
        heap=HEAP,
        max_samples=extra.pop("max_samples", 1200),
        state_dir=tmp_path / "devices",
        extra={"device_key": key.hex(), "status_period_s": 1, **extra},
    )


def _check_no_sample_lost(frames: list[dict], summary: dict) -> None:
    seqs = [f["seq"] for f in frames if not f["flags"] & 0x02]
    assert sorted(set(seqs)) == list(range(summary["frames"])), "a frame is missing"
    by_seq = {f["seq"]: f for f in frames}
    assert sum(f["n"] for f in by_seq.values()) == summary["samples"]


def test_remote_config__applied_live_and_every_rejection_reported(mosquitto, tmp_path):
    key = secrets.token_bytes(32)
    with Subscriber(mosquitto.port) as sub:
        dev = _start(mosquitto.port, tmp_path, key)
        with dev:
            assert sub.wait_for(lambda: len(sub.frames(DEVICE)) >= 3, 30), dev._tail()

            applied = _exchange(sub, mosquitto.port, _desired(key, 1, {"rate_hz": 50}))
            assert applied["status"] == "applied", applied
            assert applied["version"] == 1 and applied["config"]["rate_hz"] == 50

            def rejected(payload: bytes, running: int = 1) -> dict:
                report = _exchange(sub, mosquitto.port, payload)
                assert report["status"] == "rejected", report
                assert report["version"] == running  # it keeps running what it ran
                return report

            forged = rejected(_desired(key, 2, {"rate_hz": 200}, sign_with=os.urandom(32)))
            assert forged["error"] == "bad_signature" and forged["desired_version"] == 2
            unknown = rejected(_desired(key, 2, {"rate_hz": 100, "colour": "red"}))
            assert unknown["error"] == "invalid: colour: unknown field"
            out_of_range = rejected(_desired(key, 2, {"rate_hz": 33}))
            assert out_of_range["error"].startswith("invalid: rate_hz:"), out_of_range
            too_fast = rejected(_desired(key, 2, {"status_period_s": 0}))
            assert too_fast["error"].startswith("invalid: status_period_s:"), too_fast
            good = _desired(key, 2, {"acc_range_g": 16, "rate_hz": 50, "gyro_offset": OFFSET})
            truncated = rejected(good[: len(good) // 2])
            assert truncated["error"] == "bad_payload" and truncated["desired_version"] is None

            second = _exchange(sub, mosquitto.port, good)
            assert second["status"] == "applied" and second["version"] == 2, second
            assert second["config"]["gyro_offset"] == OFFSET  # applied and reported
            replay = rejected(_desired(key, 1, {"rate_hz": 50}), running=2)
            assert replay["error"] == "stale_version" and replay["desired_version"] == 1
            summary = dev.wait(timeout=90)
        assert sub.wait_for(lambda: len(sub.frames(DEVICE)) >= summary["frames"], 10)
        frames = sorted(sub.frames(DEVICE), key=lambda f: f["seq"])

    _check_no_sample_lost(frames, summary)
    # the first frame after the change says the new rate; the range follows at version 2
    periods = [f["period_us"] for f in frames]
    assert periods[0] == 10_000 and periods[-1] == 20_000
    change = periods.index(20_000)
    assert set(periods[change:]) == {20_000}
    # frame times run on across the change (the sampler's own rule: within a quarter period)
    for a, b in pairwise(frames):
        end = a["t0_us"] + a["n"] * a["period_us"]
        assert b["t0_us"] >= end - a["period_us"] // 4, (a, b)
    assert frames[-1]["acc_scale"] == pytest.approx(2 * frames[0]["acc_scale"])  # ±8 g -> ±16 g
    print(f"heap: {summary['heap_free_applying']} B free at the low point of the applies, "
          f"{summary['heap_min_free']} B while streaming")  # fmt: skip
    assert summary["config_oom"] == 0, summary
    assert summary["heap_free_applying"] > MARGIN and summary["heap_min_free"] > MARGIN, summary
    saved = json.loads((tmp_path / "devices" / DEVICE / "config.json").read_text())
    assert saved == {
        "version": 2,
        "config": {"acc_range_g": 16, "gyro_offset": OFFSET, "rate_hz": 50},
    }


def test_remote_config__failure_part_way_rolls_back_and_survives_reboot(mosquitto, tmp_path):
    key = secrets.token_bytes(32)
    workdir = tmp_path / "devices" / DEVICE
    workdir.mkdir(parents=True)
    (workdir / "config.json.tmp").mkdir()  # persisting will fail after the live apply
    with Subscriber(mosquitto.port) as sub:
        with _start(mosquitto.port, tmp_path, key, max_samples=600) as dev:
            assert sub.wait_for(lambda: len(sub.frames(DEVICE)) >= 2, 30), dev._tail()
            report = _exchange(sub, mosquitto.port, _desired(key, 1, {"rate_hz": 200}))
            summary = dev.wait(timeout=60)
        frames = sorted(sub.frames(DEVICE), key=lambda f: f["seq"])
    assert report["status"] == "rejected" and report["error"].startswith("apply_failed:")
    assert report["version"] == 0 and report["config"]["rate_hz"] == 100
    _check_no_sample_lost(frames, summary)
    assert {f["period_us"] for f in frames} == {10_000}  # back on the last good config

    # fixed: the retained desired config is applied at the next boot and persisted, and a
    # further boot runs it from the file, with nothing to apply and nothing to report
    (workdir / "config.json.tmp").rmdir()
    for boot in range(2):
        with Subscriber(mosquitto.port) as sub:
            with _start(mosquitto.port, tmp_path, key, max_samples=300) as dev:
                summary = dev.wait(timeout=60)
            reports = _reports(sub)
            status = [json.loads(p) for _t, p, r in sub.on(f"/{DEVICE}/status") if not r]
        assert summary["period_us"] == 5_000
        assert status[-1]["config_version"] == 1
        if boot == 0:
            assert reports[-1]["status"] == "applied" and reports[-1]["version"] == 1
        else:
            assert len(reports) == 1  # only the retained one, from the first boot
