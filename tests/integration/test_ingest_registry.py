"""The registry is the ingest's one list of devices: a device provisioned while the ingest
runs is known at its next message, without a restart; what it sent before is a dead letter
`unprovisioned`, replayable. Real ingest process, real brokers, real InfluxDB."""

import os
import subprocess
import sys
import time

import numpy as np

from gaitlink.cloud.protocol.frame import QUALITY_SENSOR_STUCK
from gaitlink.tools import services
from gaitlink.tools.stack import free_port, influx_query
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import count, gateway_publisher, publish_all, wait_until

DEVICE = "reg-late-01"


def _frames(first_seq: int, n_frames: int, t0_us: int) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(first_seq)
    return [
        (
            f"gaitlink/v1/{DEVICE}/imu",
            encode_frame(
                rng.integers(-2000, 2000, (50, 6), np.int16),
                boot_id=9,
                seq=seq,
                t0_us=t0_us + (seq - first_seq) * 500_000,
                period_us=10_000,
                quality=QUALITY_SENSOR_STUCK,
            ),
        )
        for seq in range(first_seq, first_seq + n_frames)
    ]


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_ingest__a_device_provisioned_while_it_runs_gets_its_data_written(stack, tmp_path):
    state = tmp_path / "state"
    env = {**stack.env(), "GAITLINK_STATE_DIR": str(state)}
    port = free_port()
    ingest = services.ingest(stack, state, http_port=port, accept_unprovisioned=None)
    t0 = time.time_ns() // 1000 - 30_000_000
    ingest.start()
    try:
        with gateway_publisher(stack, DEVICE) as client:
            # Not provisioned yet: refused, kept as dead letters, nothing in InfluxDB.
            publish_all(client, _frames(0, 4, t0))
            # Counted in the store by device: on a shared stack a fresh ingest session also
            # gets the retained statuses of other tests' devices, unprovisioned here too.
            store = ("--store", str(state / "dead-letters"))

            def refused() -> list[str]:
                listed = _cli(env, "deadletter", "list", *store, "--device", DEVICE).stdout
                return [line for line in listed.splitlines() if "unprovisioned" in line]

            wait_until(lambda: len(refused()) == 4, 30, "4 unprovisioned dead letters")
            assert count(stack, "imu", f"WHERE device='{DEVICE}'") == 0
            record_id = refused()[0].split()[0]
            shown = _cli(env, "deadletter", "show", *store, record_id).stdout
            assert '"reason": "unprovisioned"' in shown
            assert "50 samples at 100 Hz, quality SENSOR_STUCK" in shown  # bit 5, by name
            done = _cli(env, "device", "provision", DEVICE, "--placement", "shank")
            assert done.returncode == 0, done.stderr
            # The running ingest reads the registry it was started with: no restart.
            publish_all(client, _frames(4, 6, t0 + 2_000_000))
            wait_until(
                lambda: count(stack, "imu", f"WHERE device='{DEVICE}'") == 300, 30, "300 samples"
            )
        rows = influx_query(stack, f"SHOW TAG VALUES FROM imu WITH KEY = placement "
                                   f"WHERE device = '{DEVICE}'")  # fmt: skip
        assert [r["value"] for r in rows] == ["shank"]  # the registry's placement
        q = influx_query(stack, f"SELECT count(q) FROM imu WHERE device = '{DEVICE}' AND q = 32")
        assert q[0]["count"] == 300  # the device's SENSOR_STUCK bit, stored as sent
        # The frames from before the provisioning, replayed, land too: 10 frames in all.
        replay = _cli(env, "deadletter", "replay", *store, "--mqtt", stack.cloud_url,
                      "--reason", "unprovisioned", "--device", DEVICE)  # fmt: skip
        assert replay.returncode == 0 and "replayed 4 of 4" in replay.stdout, replay.stderr
        wait_until(
            lambda: count(stack, "imu", f"WHERE device='{DEVICE}'") == 500, 30, "500 samples"
        )
    finally:
        ingest.stop()
    assert "Traceback" not in ingest.log_path.read_text()


def test_ingest_cli__devices_file_is_refused_with_the_import_command(tmp_path):
    done = _cli({}, "ingest", "run", "--devices", "devices.json", "--registry", "r.sqlite3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "gaitlink device import devices.json --registry r.sqlite3" in done.stderr
