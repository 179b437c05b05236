"""Crash counting and safe mode on the real firmware (MicroPython unix port, real
mosquitto): three crashed boots in a row, then a safe mode that connects, says why, takes a
signed config that repairs the device, and restarts into the app (firmware/safemode.py)."""

from __future__ import annotations

import json
import secrets

import paho.mqtt.publish as mqtt_publish
import pytest

from gaitlink.cloud.protocol.config import config_text, desired_message, signature
from gaitlink.cloud.protocol.messages import DeviceStatus
from gaitlink.tools.device import DeviceError, start_device
from tests.firmware.helpers import Subscriber

DEVICE = "gl-safe-1"


def test_safe_mode__after_three_crashes_reports_and_is_repaired_by_a_config(mosquitto, tmp_path):
    key = secrets.token_bytes(32)
    state = tmp_path / "devices"

    def boot(samples=200, heap="100k"):
        # rate_hz 33 is not a divisor of 1000: the app stops at its config check
        return start_device(
            DEVICE, "127.0.0.1", mosquitto.port, seed=3, rate_hz=33, max_samples=samples,
            heap=heap, state_dir=state, extra={"device_key": key.hex()}, restart=True,
        )  # fmt: skip

    for n in range(1, 4):
        with boot() as dev, pytest.raises(DeviceError, match="rate_hz"):
            dev.wait(timeout=30)
        crashes = json.loads((state / DEVICE / "crashes.json").read_text())
        assert crashes["count"] == n and "rate_hz" in crashes["reason"]

    with Subscriber(mosquitto.port) as sub, boot() as dev:
        status = f"/{DEVICE}/status"

        def safe():
            return [json.loads(p) for _t, p, _r in sub.on(status) if b"safe_mode" in p]

        assert sub.wait_for(safe, 30), dev._tail()
        said = safe()[0]
        assert said["reason"].startswith("3 crashes in a row; last: ValueError")
        assert "rate_hz" in said["reason"]
        DeviceStatus.model_validate(said)  # the cloud takes it
        assert not sub.frames(DEVICE)  # no sensors, no sampling in safe mode

        text = config_text({"rate_hz": 50})
        mqtt_publish.single(
            f"gaitlink/v1/{DEVICE}/config/desired",
            desired_message(1, text, signature(key, 1, text), "2026-12-01T00:00:00Z"),
            qos=1, retain=True, hostname="127.0.0.1", port=mosquitto.port,
        )  # fmt: skip
        reported = f"/{DEVICE}/config/reported"
        assert sub.wait_for(lambda: sub.on(reported), 30), dev._tail()
        report = json.loads(sub.on(reported)[-1][1])
        assert report["status"] == "applied" and report["version"] == 1
        assert dev.proc.wait(30) == 1  # it restarts to try the app again
    assert json.loads((state / DEVICE / "crashes.json").read_text())["count"] == 2

    # the next boot runs the app with the repaired rate; a clean run clears the count
    with boot() as dev:
        summary = dev.wait(timeout=60)
    assert summary["period_us"] == 20_000 and summary["samples"] == 200
    assert json.loads((state / DEVICE / "crashes.json").read_text())["count"] == 0
