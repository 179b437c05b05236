"""`gaitlink device config set` -> cloud broker (retained) -> gateway -> site broker -> two
firmware instances under MicroPython, one of them offline while the config is set -> their
reports back up the chain -> `gaitlink device show` and InfluxDB. Every stage a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.tools import services
from gaitlink.tools.device import start_device
from gaitlink.tools.stack import free_port, influx_query
from tests.firmware.helpers import Subscriber

HEAP = "100k"  # an ESP32-sized heap (tests/firmware/test_remote_config.py)


def _cli(env, *args):
    done = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "device", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
@pytest.mark.micropython
def test_config_set__reaches_an_online_and_an_offline_device_through_every_stage(stack, tmp_path):
    env = {**os.environ, **stack.env(), "GAITLINK_STATE_DIR": str(tmp_path / "state")}
    online, offline = "cfg-e2e-01", "cfg-e2e-02"
    for device_id in (online, offline):
        _cli(env, "provision", device_id, "--placement", "foot", "--side", "left")
        # its account on the stack's brokers: the gateway may relay only its site's devices
        stack.add_device(device_id)
    store = DeviceStore(open_registry(tmp_path / "state" / "registry.sqlite3"))
    keys = {d: store.get(d).key.hex() for d in (online, offline)}

    def device(device_id, samples, seed):
        return start_device(
            device_id, stack.host, stack.site_port, seed=seed, max_samples=samples, heap=HEAP,
            state_dir=tmp_path / "devices",
            extra={"device_key": keys[device_id], **stack.add_device(device_id).device_fields()},
        )  # fmt: skip

    # The ingest reads the registry the devices were provisioned into, and only it.
    ingest = services.ingest(stack, tmp_path / "state", http_port=free_port(),
                             accept_unprovisioned=None)  # fmt: skip
    gateway = services.gateway(stack, tmp_path)
    reported = "gaitlink/v1/+/config/reported"
    ingest.start()
    gateway.start()
    try:
        _chain(stack, env, device, online, offline, reported)
    finally:
        gateway.stop()
        ingest.stop()


def _chain(stack, env, device, online, offline, reported):
    # As an operator, the one besides the ingest that may read the devices' reports: one
    # of its own, since the CLI below logs in as the stack's operator meanwhile and the
    # cloud broker allows one connection per account.
    observer = stack.cloud_account("operator", "e2e-observer")
    with Subscriber(stack.cloud_endpoint(observer), reported) as cloud:

        def applied(device_id):
            return [
                json.loads(p)
                for t, p, _r in cloud.on(f"/{device_id}/config/reported")
                if json.loads(p)["status"] == "applied"
            ]

        first = device(online, 1200, 1)
        with first:
            time.sleep(4)  # streaming at 100 Hz through the gateway by now
            t_set = time.monotonic()
            for device_id in (online, offline):
                _cli(env, "config", "set", device_id, "rate_hz=50", "status_period_s=5")
            assert cloud.wait_for(lambda: applied(online), 30), first._tail()
            latency_s = time.monotonic() - t_set
            # the second device boots only now; the retained config waits for it
            second = device(offline, 600, 2)
            with second:
                assert cloud.wait_for(lambda: applied(offline), 30), second._tail()
                summaries = {online: first.wait(90), offline: second.wait(90)}
        print(f"config set -> applied reported at the cloud broker: {latency_s:.2f} s")

        for device_id, summary in summaries.items():
            report = applied(device_id)[-1]
            assert report["version"] == 1 and report["config"]["rate_hz"] == 50
            assert summary["period_us"] == 20_000
            shown = json.loads(_cli(env, "show", device_id, "--json"))
            assert shown["in_sync"] and shown["reported_status"] == "applied", shown

        # every sample once in InfluxDB, and the rate change in the samples' times
        deadline = time.monotonic() + 60
        counts = {}
        while time.monotonic() < deadline:
            for device_id in summaries:
                rows = influx_query(
                    stack, f"SELECT count(ax) FROM imu WHERE device = '{device_id}'"
                )
                counts[device_id] = int(rows[0]["count"]) if rows else 0
            if all(counts[d] == s["samples"] for d, s in summaries.items()):
                break
            time.sleep(0.5)
        assert counts == {d: s["samples"] for d, s in summaries.items()}
        rows = influx_query(
            stack, f"SELECT ax FROM imu WHERE device = '{online}' ORDER BY time", epoch="u"
        )
        steps = np.diff([r["time"] for r in rows])
        assert np.median(steps[:300]) == 10_000 and np.median(steps[-300:]) == 20_000
        configs = influx_query(
            stack,
            "SELECT version, rate_hz, status_period_s FROM device_config "
            "WHERE device =~ /^cfg-e2e-/ AND status = 'applied' GROUP BY device",
        )
        assert {(r["version"], r["rate_hz"], r["status_period_s"]) for r in configs} == {(1, 50, 5)}
        assert len(configs) >= 2, configs
