"""tools/device.py: the host-side runner and its `gaitlink device run` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gaitlink.tools.device import DeviceError, start_device
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto


def test_cli_device_run__prints_the_summary(mosquitto, tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "device", "run", "--id", "gl-cli-1",
         "--broker", f"127.0.0.1:{mosquitto.port}", "--seconds", "1", "--rate", "50", "--seed", "9",
         "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["samples"] == 50 and summary["seed"] == 9
    assert summary["acked"] == summary["frames"] == 1 and summary["period_us"] == 20000
    written = json.loads((tmp_path / "gl-cli-1" / "device.json").read_text())
    assert written["rate_hz"] == 50 and written["max_samples"] == 50


def test_cli_device_run__bad_rate_is_one_line(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "device", "run", "--id", "gl-cli-2",
         "--broker", "127.0.0.1:1", "--rate", "400", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        "gaitlink device: rate_hz: a divisor of 1000 in [4, 1000] required; change --rate"
    ]


def test_start_device__bad_config_reports_the_field(tmp_path):
    dev = start_device(
        "gl-bad", "127.0.0.1", 1, seed=1, rate_hz=30, max_samples=10, state_dir=tmp_path
    )
    with pytest.raises(DeviceError, match="rate_hz: a divisor of 1000"):
        dev.wait(timeout=30)


def test_start_device__no_broker_bounded_run_still_ends(tmp_path):
    dev = start_device(
        "gl-lonely", "127.0.0.1", free_port(), seed=1, max_samples=10, state_dir=tmp_path,
        extra={"flush_timeout_s": 1, "reconnect_min_ms": 50, "reconnect_max_ms": 100},
    )  # fmt: skip
    summary = dev.wait(timeout=30)  # a bounded run ends even with no broker: nothing acked
    assert summary["samples"] == 10 and summary["acked"] == 0 and summary["unacked"] == 1
    assert summary["connections"] == 0
    assert "uplink: link lost" in (tmp_path / "gl-lonely" / "stdout.log").read_text()


def test_device__per_device_account_on_the_broker(tmp_path):
    # the site broker's per-device accounts: the right password streams, a wrong one is
    # refused at CONNECT and the device keeps retrying (nothing acked, nothing crashes)
    broker = Mosquitto(tmp_path / "broker", free_port(), users={"gl-auth-1": "s3cret"})
    broker.start()
    try:
        good = start_device(
            "gl-auth-1", "127.0.0.1", broker.port, seed=2, max_samples=100,
            state_dir=tmp_path / "dev", extra={"mqtt_user": "gl-auth-1", "mqtt_password": "s3cret"},
        )  # fmt: skip
        bad = start_device(
            "gl-auth-2", "127.0.0.1", broker.port, seed=2, max_samples=100,
            state_dir=tmp_path / "dev",
            extra={"mqtt_user": "gl-auth-2", "mqtt_password": "wrong", "flush_timeout_s": 1,
                   "reconnect_min_ms": 50, "reconnect_max_ms": 200},
        )  # fmt: skip
        with good, bad:
            ok = good.wait(timeout=30)
            refused = bad.wait(timeout=30)
    finally:
        broker.kill()
    assert ok["acked"] == ok["frames"] == 2
    assert refused["acked"] == 0 and refused["connections"] == 0
    assert "MQTTRefused(5" in (tmp_path / "dev" / "gl-auth-2" / "stdout.log").read_text()
