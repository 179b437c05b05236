"""Pipeline.transform on single messages: what is written and what is not."""

import json

from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.mqtt.link import Message

WILL = json.dumps({"device_id": "d1", "state": "offline", "boot_id": 4}).encode()


def _pipeline(tmp_path):
    return Pipeline(DeviceBook({}, DeviceProfile()), DeadLetterStore(tmp_path / "dl.jsonl"))


def test_status__retained_replay_without_time_is_not_written_again(tmp_path):
    pipeline = _pipeline(tmp_path)
    live = pipeline.transform([Message("gaitlink/v1/d1/status", WILL, 1, False, 1)])
    replay = pipeline.transform([Message("gaitlink/v1/d1/status", WILL, 1, True, 2)])
    assert len(live.lines) == 1 and replay.lines == []
    assert pipeline.counters.retained_replays == 1 and pipeline.counters.status == 1


def test_env__firmware_is_a_field_so_any_string_is_safe(tmp_path):
    env = {
        "device_id": "d1",
        "timestamp": "2026-11-22T10:00:00Z",
        "sensor_data": {},
        "device_status": {"battery_level": 5, "signal_strength": -70, "firmware_version": "v1 \\"},
    }
    (line,) = (
        _pipeline(tmp_path)
        .transform([Message("gaitlink/v1/d1/env", json.dumps(env).encode(), 1, False, 1)])
        .lines
    )
    assert line.startswith("env,device=d1 ") and 'firmware="v1 \\\\"' in line


def test_imu__clock_stepped_back_is_recorded_not_silent(tmp_path):
    import numpy as np

    from tests.cloud.frames import encode_frame

    pipeline = _pipeline(tmp_path)
    zeros = np.zeros((50, 6), np.int16)
    first = encode_frame(zeros, seq=0, t0_us=1_000_000_000)
    stepped = encode_frame(zeros, seq=1, t0_us=1_000_000_000 + 400_000)  # 100 ms back
    out = pipeline.transform(
        [Message("gaitlink/v1/d1/imu", p, 1, False, i) for i, p in enumerate((first, stepped))]
    )
    (incident,) = [line for line in out.lines if line.startswith("ingest_quality")]
    assert "kind=clock_step" in incident and "back_us=90000i" in incident
    assert pipeline.counters.clock_steps_back == 1
    assert sum(line.startswith("imu,") for line in out.lines) == 100
