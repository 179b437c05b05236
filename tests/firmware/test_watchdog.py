"""The watchdog on the real firmware (MicroPython unix port, real mosquitto): fed while
the sampler and the uplink make progress, a reset (counted towards safe mode) when the IMU
is gone for longer than `watchdog_s` (App._watch in firmware/app.py)."""

from __future__ import annotations

import json

import pytest

from gaitlink.tools.device import DeviceError, start_device


def test_watchdog__fed_while_streaming_resets_when_the_sampler_stalls(mosquitto, tmp_path):
    def run(device_id, samples, sim=None):
        return start_device(
            device_id, "127.0.0.1", mosquitto.port, seed=5, max_samples=samples,
            state_dir=tmp_path / "devices", extra={"watchdog_s": 2, "sim": sim},
        )  # fmt: skip

    with run("gl-wdt-ok", 500) as dev:  # 5 s, longer than the watchdog's 2 s
        summary = dev.wait(timeout=60)
    assert summary["samples"] == 500

    # the IMU drops off the bus 1 s in, for 20 s: no samples, so no feeding
    stalled = run("gl-wdt-1", 3000, {"faults": [[1, "gone", 104, 20]]})
    with stalled, pytest.raises(DeviceError, match="watchdog: no progress for 2 s"):
        stalled.wait(timeout=30)
    crashes = json.loads((tmp_path / "devices" / "gl-wdt-1" / "crashes.json").read_text())
    assert crashes["count"] == 1 and "watchdog: no progress for 2 s" in crashes["reason"]
