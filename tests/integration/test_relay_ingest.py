"""Gateway and ingest, as real processes, between real mosquitto brokers and InfluxDB."""

import json

import numpy as np

from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.tools.services import ingest_metrics
from gaitlink.tools.stack import influx_query
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import (
    count,
    device_publisher,
    publish_all,
    running_pipeline,
    wait_until,
)

T0 = 1_790_000_000_000_000


def _frames(device_seed: int, n_frames: int, n: int = 50) -> list[np.ndarray]:
    rng = np.random.default_rng(device_seed)
    return [rng.integers(-2000, 2000, size=(n, 6), dtype=np.int16) for _ in range(n_frames)]


def test_frames_reach_influx_once_with_values_and_times(stack, tmp_path):
    frames = _frames(1, 20)
    messages = [
        ("gaitlink/v1/rel-1/imu", encode_frame(c, boot_id=9, seq=i, t0_us=T0 + i * 500_000))
        for i, c in enumerate(frames)
    ]
    # After they are written: a resend of seq 3 (the ingest drops it; sent earlier, while
    # the first copy was still on its way, the gateway would merge the two) and a corrupt
    # frame, which becomes a dead letter.
    corrupt = bytearray(messages[0][1])
    corrupt[50] ^= 0xFF
    late = [messages[3], ("gaitlink/v1/rel-1/imu", bytes(corrupt))]
    with (
        running_pipeline(stack, tmp_path) as pipeline,
        device_publisher(stack, "rel-1") as client,
    ):
        publish_all(client, messages)
        wait_until(lambda: count(stack, "imu", "WHERE device='rel-1'") >= 1000, 30, "imu points")
        publish_all(client, late)
        wait_until(
            lambda: ingest_metrics(pipeline["http_port"])["dead_letters"] == 1, 10, "dead letter"
        )
        metrics = ingest_metrics(pipeline["http_port"])
    assert count(stack, "imu", "WHERE device='rel-1'") == 1000
    assert metrics["duplicates"] == 1 and metrics["dead_letters_by_reason"] == {"bad_crc": 1}
    rows = influx_query(
        stack, "SELECT ax, gz FROM imu WHERE device='rel-1' ORDER BY time", epoch="u"
    )
    expected = np.concatenate(frames)
    # Stored to 1e-6 SI (docs/schema.md): within half of that of count × scale.
    # (count × the float32 scale, in float64 as the decoder computes it)
    acc_scale, gyro_scale = float(np.float32(0.0011971008)), float(np.float32(0.00053263221))
    ax, gz = [r["ax"] for r in rows], [r["gz"] for r in rows]
    np.testing.assert_allclose(ax, expected[:, 0] * acc_scale, rtol=0, atol=5e-7 + 1e-12)
    np.testing.assert_allclose(gz, expected[:, 5] * gyro_scale, rtol=0, atol=5e-7 + 1e-12)
    assert [r["time"] for r in rows] == [T0 + k * 10_000 for k in range(1000)]
    (record,) = DeadLetterStore(tmp_path / "dead-letters").read()
    assert record["reason"] == "bad_crc" and record["topic"] == "gaitlink/v1/rel-1/imu"


def test_env_and_status_reach_influx_and_bad_json_is_a_dead_letter(stack, tmp_path):
    env = {
        "device_id": "rel-2",
        "timestamp": "2026-11-22T10:15:30.250Z",
        "sensor_data": {"temperature": {"value": 22.5, "unit": "°C", "quality": "good"}},
        "device_status": {"battery_level": 80, "signal_strength": -60, "firmware_version": "0.1"},
    }
    status = {"device_id": "rel-2", "state": "online", "boot_id": 3, "frames_dropped": 0}
    bad = dict(env, device_status={"battery_level": 180})
    with (
        running_pipeline(stack, tmp_path) as pipeline,
        device_publisher(stack, "rel-2") as client,
    ):
        publish_all(
            client,
            [
                ("gaitlink/v1/rel-2/env", json.dumps(env).encode()),
                ("gaitlink/v1/rel-2/status", json.dumps(status).encode()),
                ("gaitlink/v1/rel-2/env", json.dumps(bad).encode()),
                ("gaitlink/v1/rel-2/env", b"{not json"),
            ],
        )
        wait_until(
            lambda: ingest_metrics(pipeline["http_port"])["dead_letters"] == 2, 30, "dead letters"
        )
        wait_until(lambda: influx_query(stack, "SELECT * FROM env WHERE device='rel-2'"), 10, "env")
    (row,) = influx_query(stack, "SELECT * FROM env WHERE device='rel-2'", epoch="u")
    assert row["temperature"] == 22.5 and row["battery"] == 80
    assert row["time"] == 1_795_342_530_250_000
    (st,) = influx_query(stack, "SELECT * FROM device_status WHERE device='rel-2'")
    assert st["state"] == "online" and st["boot_id"] == 3
    reasons = [r["detail"] for r in DeadLetterStore(tmp_path / "dead-letters").read()]
    assert any("battery_level" in r for r in reasons) and any("Invalid JSON" in r for r in reasons)
