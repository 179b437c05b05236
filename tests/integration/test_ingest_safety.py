"""One bad frame never costs good data: the loss cases of issue #7, against real mosquitto,
a real InfluxDB and real ingest/gateway processes (and the real firmware for the rates)."""

import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.tools import device, services
from gaitlink.tools.stack import free_port, influx_query
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import (
    count,
    device_publisher,
    operator_publisher,
    publish_all,
    running_pipeline,
    wait_until,
)


def _now_us() -> int:
    return time.time_ns() // 1000


def _frames(device_id, n_frames, *, t0_us, first_seq=0, n=50, period_us=10_000, boot_id=5, **kw):
    rng = np.random.default_rng(len(device_id) + first_seq)
    return [
        (
            f"gaitlink/v1/{device_id}/imu",
            encode_frame(
                rng.integers(-2000, 2000, (n, 3 if kw.get("channels") == 1 else 6), np.int16),
                boot_id=boot_id,
                seq=s,
                t0_us=t0_us + (s - first_seq) * n * period_us,
                period_us=period_us,
                **kw,
            ),
        )
        for s in range(first_seq, first_seq + n_frames)
    ]


def _health(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _incidents(stack, device_id: str, kind: str) -> list[dict]:
    where = f"WHERE device='{device_id}' AND kind='{kind}'"
    return influx_query(stack, f"SELECT * FROM ingest_quality {where}")


@pytest.mark.micropython
def test_ingest__firmware_at_500_and_10_hz_gets_every_sample_into_imu(stack, tmp_path):
    # Rates the protocol allows (§3.3): 500 Hz the gait methods take (20–1000 Hz), 10 Hz
    # they do not: stored raw, gait skipped.
    with running_pipeline(stack, tmp_path) as pipeline:
        runs = [
            device.start_device(
                dev,
                stack.host,
                stack.site_port,
                seed=i + 1,
                rate_hz=rate,
                max_samples=samples,
                state_dir=tmp_path / "devices",
                extra=stack.add_device(dev).device_fields(),
            )
            for i, (dev, rate, samples) in enumerate(
                (("rate-500", 500, 2500), ("rate-10", 10, 100))
            )
        ]
        summaries = [run.wait(timeout=90) for run in runs]
        assert [s["samples"] for s in summaries] == [2500, 100]
        for dev, samples in (("rate-500", 2500), ("rate-10", 100)):
            wait_until(lambda d=dev, n=samples: count(stack, "imu", f"WHERE device='{d}'") == n,
                       30, f"{samples} samples of {dev}")  # fmt: skip
        metrics = services.ingest_metrics(pipeline["http_port"])
        assert _health(pipeline["http_port"]) == 200
    assert metrics["dead_letters"] == 0 and metrics["internal_errors"] == 0
    assert _incidents(stack, "rate-500", "gait_skipped") == []
    (skip,) = _incidents(stack, "rate-10", "gait_skipped")
    assert skip["reason"] == "rate" and "Hz" in skip["detail"]


def test_ingest__one_1000_hz_frame_costs_other_devices_nothing(stack, tmp_path):
    t0 = _now_us() - 60_000_000
    good = _frames("quiet-a", 30, t0_us=t0) + _frames("quiet-b", 30, t0_us=t0)
    fast = _frames("fast-1k", 1, t0_us=t0, n=200, period_us=1000)
    acc_only = _frames("acc-only", 2, t0_us=t0, channels=0x01)
    messages = good[:30] + fast + acc_only + good[30:]
    devices = ("quiet-a", "quiet-b", "fast-1k", "acc-only")
    with (
        running_pipeline(stack, tmp_path) as pipeline,
        device_publisher(stack, *devices) as client,
    ):
        publish_all(client, messages)
        expected = {"quiet-a": 1500, "quiet-b": 1500, "fast-1k": 200, "acc-only": 100}
        for dev, n in expected.items():
            wait_until(lambda d=dev, n=n: count(stack, "imu", f"WHERE device='{d}'") == n,
                       30, f"{n} samples of {dev}")  # fmt: skip
        metrics = services.ingest_metrics(pipeline["http_port"])
    # The 1000 Hz frame is segmented (20–1000 Hz); the foot's acc-only frames are not.
    assert metrics["dead_letters"] == 0 and metrics["gait_skipped_frames"] == 2
    (acc_row,) = influx_query(stack, "SELECT * FROM imu WHERE device='acc-only' LIMIT 1")
    assert acc_row["ax"] is not None and acc_row.get("gx") is None
    assert _incidents(stack, "acc-only", "gait_skipped")[0]["reason"] == "channels"


def test_ingest__a_forged_seq_does_not_silence_the_device(stack, tmp_path):
    t0 = _now_us() - 120_000_000
    real = _frames("victim", 80, t0_us=t0)  # 4000 samples
    # An hour before the real ones, so its points do not overwrite theirs in InfluxDB.
    forged = _frames("victim", 1, t0_us=t0 - 3_600_000_000, first_seq=10 + 2**31 - 1)
    with (
        running_pipeline(stack, tmp_path) as pipeline,
        device_publisher(stack, "victim") as client,
    ):
        publish_all(client, real[:10] + forged)
        wait_until(lambda: count(stack, "imu", "WHERE device='victim'") == 550, 30, "forgery")
        publish_all(client, real[10:])
        wait_until(lambda: count(stack, "imu", "WHERE device='victim'") == 4050, 30, "the rest")
        metrics = services.ingest_metrics(pipeline["http_port"])
    assert metrics["duplicates"] == 0 and metrics["seq_jumps"] == 1
    (jump,) = _incidents(stack, "victim", "seq_jump")
    assert jump["seq"] == 10 + 2**31 - 1
    flagged = influx_query(stack, "SELECT count(ax) FROM imu WHERE device='victim' AND q = 32768")
    assert flagged[0]["count"] == 50  # the forged frame's samples, and only those


def test_ingest__each_bad_input_class_is_a_dead_letter_with_its_reason(stack, tmp_path):
    now = _now_us()
    (_, good), *_ = _frames("bad-in", 1, t0_us=now - 10_000_000)
    corrupt = bytearray(good)
    corrupt[50] ^= 0xFF
    env_future = (
        b'{"device_id": "bad-env", "timestamp": "2099-01-01T00:00:00Z", "sensor_data": {},'
        b' "device_status": {"battery_level": 5, "signal_strength": -70, "firmware_version": "1"}}'
    )
    cases = {
        "short": ("bad-short", good[:20]),
        "bad_magic": ("bad-magic", b"XX" + good[2:]),
        "bad_version": ("bad-version", good[:2] + b"\x02" + good[3:]),
        "bad_length": ("bad-length", good[:-6]),
        "bad_crc": ("bad-crc", bytes(corrupt)),
        "bad_header": (
            "bad-scale",
            _frames("x", 1, t0_us=now - 10_000_000, acc_scale=0.05)[0][1],  # ±167 g
        ),
        "time_out_of_range": ("bad-time", _frames("x", 1, t0_us=now + 3_600_000_000)[0][1]),
        "invalid_message": ("bad-json", b"{not json"),
    }
    messages = [
        (f"gaitlink/v1/{dev}/{'env' if reason == 'invalid_message' else 'imu'}", payload)
        for reason, (dev, payload) in cases.items()
    ]
    messages += [
        ("gaitlink/v1/bad-env/env", env_future),
        ("gaitlink/v1/bad-old/imu", _frames("x", 1, t0_us=1_000_000_000)[0][1]),  # 1970
        ("gaitlink/v1/Bad_Id/imu", good),  # bad_topic
        ("gaitlink/v1/bad-in/imu", good),  # the good frame, in the middle of it all
    ]
    # Straight to the cloud broker, as the operator: no device account could publish under
    # an invalid id (Bad_Id), nor a gateway forward it.
    with running_pipeline(stack, tmp_path) as pipeline, operator_publisher(stack) as client:
        publish_all(client, messages)
        port = pipeline["http_port"]
        wait_until(lambda: services.ingest_metrics(port)["dead_letters"] == 11, 30, "dead letters")
        wait_until(lambda: count(stack, "imu", "WHERE device='bad-in'") == 50, 10, "good frame")
        metrics = services.ingest_metrics(port)
    assert metrics["dead_letters_by_reason"] == {
        **{reason: 1 for reason in cases}, "time_out_of_range": 3, "bad_topic": 1,
    }  # fmt: skip
    records = DeadLetterStore(tmp_path / "dead-letters").read()
    by_device = {r["device"]: r for r in records}
    for reason, (dev, payload) in cases.items():
        record = by_device[dev]
        assert record["reason"] == reason, record
        assert record["length"] == len(payload)
        assert record["sha256"] == hashlib.sha256(payload).hexdigest()
    assert by_device["bad-env"]["reason"] == by_device["bad-old"]["reason"] == "time_out_of_range"
    assert by_device[None]["reason"] == "bad_topic"


def test_ingest__garbage_floods_do_not_evict_other_devices_dead_letters(stack, tmp_path):
    small = [("gaitlink/v1/few-bad/imu", b"GL" + bytes([i]) * 30) for i in range(20)]
    garbage = [("gaitlink/v1/flood/imu", bytes([i]) * 10_000_000) for i in range(8)]
    # Straight to the cloud broker: the gateway's spool has nothing to show here.
    with running_pipeline(stack, tmp_path) as pipeline, operator_publisher(stack) as client:
        publish_all(client, small)
        publish_all(client, garbage)
        port = pipeline["http_port"]
        wait_until(lambda: services.ingest_metrics(port)["dead_letters"] == 28, 60, "dead letters")
        metrics = services.ingest_metrics(port)
    store = DeadLetterStore(tmp_path / "dead-letters")
    assert len(store.read(device="few-bad")) == 20
    flood = store.read(device="flood")
    assert len(flood) == 8 and all(r["truncated"] and r["length"] == 10_000_000 for r in flood)
    assert metrics["dead_letters_evicted"] == 0
    assert metrics["dead_letter_store_bytes"] < 2_000_000


def test_ingest__dead_letters_replayed_after_a_fix_are_written_once(stack, tmp_path):
    # A device whose clock runs an hour ahead: its frames are time_out_of_range...
    ahead = _now_us() + 3_600_000_000
    frames = _frames("replay-1", 10, t0_us=ahead)
    store_dir = tmp_path / "dead-letters"
    with (
        running_pipeline(stack, tmp_path) as pipeline,
        device_publisher(stack, "replay-1") as client,
    ):
        publish_all(client, frames)
        port = pipeline["http_port"]
        wait_until(lambda: services.ingest_metrics(port)["dead_letters"] == 10, 30, "dead letters")
    assert count(stack, "imu", "WHERE device='replay-1'") == 0
    # ... until the operator allows two hours (the fix) and replays them.
    http_port = free_port()
    ingest = services.ingest(stack, tmp_path, http_port=http_port, extra=("--max-future-s", "7200"))
    ingest.start()
    try:
        replay = _cli("replay", "--store", str(store_dir), "--mqtt", stack.cloud_url,
                      "--reason", "time_out_of_range", "--device", "replay-1",
                      env=stack.env())  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        assert "replayed 10 of 10" in replay.stdout
        wait_until(lambda: count(stack, "imu", "WHERE device='replay-1'") == 500, 30, "replay")
        # Replayed again: dedup applies, nothing is written twice.
        again = _cli(
            "replay", "--store", str(store_dir), "--mqtt", stack.cloud_url, "--again",
            env=stack.env(),
        )  # fmt: skip
        assert "replayed 10 of 10" in again.stdout, again.stderr
        wait_until(lambda: services.ingest_metrics(http_port)["duplicates"] == 10, 30, "dups")
        assert count(stack, "imu", "WHERE device='replay-1'") == 500
    finally:
        ingest.stop()
    listing = _cli("list", "--store", str(store_dir), "--device", "replay-1")
    lines = listing.stdout.splitlines()
    assert len(lines) == 10 and all("time_out_of_range" in x and "replayed" in x for x in lines)
    record_id = listing.stdout.split()[0]
    shown = _cli("show", "--store", str(store_dir), record_id)
    assert '"reason": "time_out_of_range"' in shown.stdout and "47 4c 01" in shown.stdout
    missing = _cli("show", "--store", str(store_dir), "nope")
    assert missing.returncode == 2 and "no record 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # env: the stack's accounts (the operator's, for replay), as `gaitlink stack up` prints
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "deadletter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
