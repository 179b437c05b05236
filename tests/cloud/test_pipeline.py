"""Pipeline.transform on single messages: what is written and what is not."""

import json

from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.mqtt.link import Message

T0 = 1_790_000_000_000_000
WILL = json.dumps({"device_id": "d1", "state": "offline", "boot_id": 4}).encode()


def _pipeline(tmp_path):
    return Pipeline(DeviceBook({}, DeviceProfile()), DeadLetterStore(tmp_path / "dl"))


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
    first = encode_frame(zeros, seq=0, t0_us=T0)
    stepped = encode_frame(zeros, seq=1, t0_us=T0 + 400_000)  # 100 ms back
    out = pipeline.transform(
        [Message("gaitlink/v1/d1/imu", p, 1, False, i) for i, p in enumerate((first, stepped))]
    )
    (incident,) = [line for line in out.lines if line.startswith("ingest_quality")]
    assert "kind=clock_step" in incident and "back_us=90000i" in incident
    assert pipeline.counters.clock_steps_back == 1
    assert sum(line.startswith("imu,") for line in out.lines) == 100


# -- failure isolation, stage-3 checks, dedup that cannot be poisoned ---------------------
import numpy as np  # noqa: E402

from gaitlink.cloud.ingest.devices import DeviceBook as _Book  # noqa: E402
from gaitlink.cloud.ingest.gait import GaitStage  # noqa: E402
from tests.cloud.frames import encode_frame  # noqa: E402

NOW_US = 1_790_000_600_000_000  # the pipeline's clock in these tests: T0 + 10 min


def _imu(device, seq, *, t0_us=None, period_us=10_000, n=50, boot_id=1, **kw):
    counts = np.full((n, 3 if kw.get("channels") == 0x01 else 6), 100, np.int16)
    t0 = T0 + seq * n * period_us if t0_us is None else t0_us
    payload = encode_frame(counts, boot_id=boot_id, seq=seq, t0_us=t0, period_us=period_us, **kw)
    return Message(f"gaitlink/v1/{device}/imu", payload, 1, False, seq)


def _gait_pipeline(tmp_path, book=None, **kw):
    book = book or DeviceBook({}, DeviceProfile())
    return Pipeline(book, DeadLetterStore(tmp_path / "dl"), GaitStage(), clock=lambda: NOW_US, **kw)


def _imu_count(out, device):
    return sum(line.startswith(f"imu,device={device},") for line in out.lines)


def test_transform__a_frame_gait_cannot_use_is_stored_raw_and_costs_no_one_else(tmp_path):
    pipeline = _gait_pipeline(tmp_path)
    batch = [_imu("a", s) for s in range(3)] + [_imu("b", s) for s in range(3)]
    # Rates the protocol allows (4–1000 Hz) but cloud.gait does not (20–1000 Hz).
    batch.insert(2, _imu("hz10", 0, period_us=100_000, n=200))  # 10 Hz
    batch.insert(4, _imu("hz10", 1, period_us=100_000, n=200, t0_us=T0 + 20_000_000))
    batch.insert(5, _imu("hz5", 0, period_us=200_000, n=25))  # 5 Hz
    batch.insert(6, _imu("acconly", 0, channels=0x01))
    out = pipeline.transform(batch)
    assert [_imu_count(out, d) for d in ("a", "b", "hz10", "hz5", "acconly")] == [
        150, 150, 400, 25, 50,
    ]  # fmt: skip
    skips = sorted(line.split(" ")[0] for line in out.lines if "kind=gait_skipped" in line)
    assert skips == [
        "ingest_quality,device=acconly,kind=gait_skipped",
        "ingest_quality,device=hz10,kind=gait_skipped",  # once per device and reason
        "ingest_quality,device=hz5,kind=gait_skipped",
    ]
    assert pipeline.counters.gait_skipped_frames == 4
    assert pipeline.counters.dead_letters == 0 and out.held == []


def test_transform__an_internal_error_holds_that_message_only_and_its_retry_is_written(tmp_path):
    book = _Book({}, DeviceProfile())
    broken = {"on": True}
    real_to_body = book.to_body

    def to_body(device, samples):
        if device == "bug" and broken["on"]:
            raise ZeroDivisionError("a bug in the ingest")
        return real_to_body(device, samples)

    book.to_body = to_body
    pipeline = _gait_pipeline(tmp_path, book, retry_delay_s=0.0)
    out = pipeline.transform([_imu("ok", 0), _imu("bug", 0), _imu("ok", 1)])
    assert _imu_count(out, "ok") == 100 and [m.topic for m in out.held] == ["gaitlink/v1/bug/imu"]
    assert pipeline.counters.internal_errors == 1 and pipeline.counters.dead_letters == 0
    assert any("ZeroDivisionError" in p for p in pipeline.problems())
    assert out.done == [out.per_message[0][0], out.per_message[1][0]]
    still = pipeline.transform(pipeline.due_retries())  # not fixed yet: held again
    assert still.held and pipeline.problems()
    broken["on"] = False  # the fix
    retried = pipeline.transform(pipeline.due_retries())
    assert _imu_count(retried, "bug") == 50 and pipeline.problems() == []


def test_transform__a_failing_gait_stage_still_writes_the_raw_samples(tmp_path):
    pipeline = _gait_pipeline(tmp_path)

    def boom(*args, **kwargs):
        raise RuntimeError("gait bug")

    pipeline.gait.push = boom
    out = pipeline.transform([_imu("g", 0)])
    assert _imu_count(out, "g") == 50 and out.held == []
    assert pipeline.counters.internal_errors == 1
    assert any("gait stage failed on g" in p for p in pipeline.problems())


def test_transform__time_out_of_range_and_bad_scales_are_dead_letters(tmp_path):
    book = DeviceBook({"prov": DeviceProfile(provisioned="2026-09-25")}, DeviceProfile())
    pipeline = _gait_pipeline(tmp_path, book)
    future = NOW_US + 301 * 10**6
    env = {
        "device_id": "e",
        "timestamp": "2031-01-01T00:00:00Z",
        "sensor_data": {},
        "device_status": {"battery_level": 5, "signal_strength": -70, "firmware_version": "1"},
    }
    out = pipeline.transform(
        [
            _imu("fut", 0, t0_us=future),
            _imu("old", 0, t0_us=1_000_000_000),  # 1970
            _imu("unsynced", 0, t0_us=946_684_800 * 10**6),  # an RTC at 2000-01-01
            _imu("prov", 0),  # 2026-09-21: before the device was provisioned
            _imu("acc", 0, acc_scale=0.05),  # ±164 g
            _imu("gyro", 0, gyro_scale=1e-6),  # ±1.9 °/s
            Message("gaitlink/v1/e/env", json.dumps(env).encode(), 1, False, 9),
            _imu("fine", 0, t0_us=NOW_US + 200 * 10**6),  # 200 s ahead: within the limit
        ]
    )
    assert out.lines and all(line.startswith("imu,device=fine,") for line in out.lines)
    records = {r["device"]: r for r in pipeline.dead_letters.read()}
    assert {d: r["reason"] for d, r in records.items()} == {
        "fut": "time_out_of_range", "old": "time_out_of_range",
        "unsynced": "time_out_of_range", "prov": "time_out_of_range",
        "acc": "bad_header", "gyro": "bad_header", "e": "time_out_of_range",
    }  # fmt: skip
    assert "provisioning date" in records["prov"]["detail"]
    assert "ahead of the ingest's clock" in records["fut"]["detail"]


def test_transform__time_limits_are_configurable(tmp_path):
    from datetime import UTC, datetime

    from gaitlink.cloud.ingest.validate import TimeLimits

    limits = TimeLimits(max_future_s=3600, not_before=datetime(1969, 1, 1, tzinfo=UTC))
    pipeline = _gait_pipeline(tmp_path, time_limits=limits)
    out = pipeline.transform(
        [_imu("a", 0, t0_us=NOW_US + 1800 * 10**6), _imu("b", 0, t0_us=1_000_000_000)]
    )
    assert _imu_count(out, "a") == _imu_count(out, "b") == 50


def test_transform__a_forged_seq_does_not_silence_the_device(tmp_path):
    pipeline = _gait_pipeline(tmp_path)
    taps = []
    pipeline.taps.append(lambda kind, fields: taps.append((kind, fields["kind"])))
    real = [_imu("v", s) for s in range(80)]
    forged = _imu("v", 10 + 2**31 - 1, t0_us=T0 + 10 * 500_000)
    outs = [pipeline.transform([m]) for m in [*real[:10], forged, *real[10:]]]
    assert sum(_imu_count(o, "v") for o in outs) == 81 * 50  # every real frame, and the forgery
    (jump,) = [line for o in outs for line in o.lines if "kind=seq_jump" in line]
    assert f"seq={10 + 2**31 - 1}i" in jump and "rebased=0i" in jump
    assert all(f"q={0x8000}i" in line for line in outs[10].lines if line.startswith("imu"))
    assert pipeline.counters.duplicates == 0 and pipeline.counters.seq_jumps == 1
    assert ("incident", "seq_jump") in taps


def test_status__newer_fields_stored_flat_and_a_bad_one_costs_only_itself(tmp_path):
    status = {"device_id": "d1", "state": "online", "boot_id": 4, "frames_sent": 7,
              "timestamp": "2026-12-01T00:00:00Z", "heap_min_free": 10624, "imu": "ok",
              "faults": {"i2c_errors": 2, "samples_lost": 0},
              "clock": {"steps": 1, "slews": 3, "last_error_us": -250}}  # fmt: skip
    pipeline = _pipeline(tmp_path)
    (line,) = pipeline.transform(
        [Message("gaitlink/v1/d1/status", json.dumps(status).encode(), 1, False, 1)]
    ).lines
    for field in (
        'imu="ok"',
        "heap_min_free=10624i",
        "faults_i2c_errors=2i",
        "faults_samples_lost=0i",
        "clock_last_error_us=-250i",
        "frames_sent=7i",
    ):
        assert field in line, field  # fmt: skip
    bad = status | {"faults": {"i2c_errors": -2, "samples_lost": 5}}
    out = pipeline.transform(
        [Message("gaitlink/v1/d1/status", json.dumps(bad).encode(), 1, False, 2)]
    )
    written, incident = out.lines
    assert "faults_samples_lost=5i" in written and "faults_i2c_errors" not in written
    assert "frames_sent=7i" in written and 'state="online"' in written
    assert incident.startswith("ingest_quality,device=d1,kind=bad_status_field ")
    assert "faults.i2c_errors" in incident
    assert pipeline.counters.status_fields_dropped == 1 and pipeline.counters.dead_letters == 0


# -- frame batches (protocol §2.5): each inner frame goes the way of a frame of its own ---
import base64  # noqa: E402

from gaitlink.gateway.batch import encode_batch  # noqa: E402


def _batch(device, frames, mid=1000):
    """A gateway's batch of the given imu messages (all of `device`)."""
    return Message(f"gaitlink/v1/{device}/imu/batch", encode_batch([m.payload for m in frames]),
                   1, False, mid)  # fmt: skip


def test_transform__a_batch_writes_its_frames_and_is_acked_as_one_message(tmp_path):
    pipeline = _gait_pipeline(tmp_path)
    batch = _batch("bd", [_imu("bd", s) for s in range(4)])
    out = pipeline.transform([batch, _imu("other", 0)])
    assert _imu_count(out, "bd") == 200 and _imu_count(out, "other") == 50
    assert out.done == [batch, out.per_message[-1][0]]  # the broker's messages, not frames
    assert [m.topic for m, _ in out.per_message[:4]] == ["gaitlink/v1/bd/imu"] * 4
    counters = pipeline.counters
    assert (counters.messages, counters.frame_batches, counters.frames) == (2, 1, 5)


def test_transform__one_bad_frame_in_a_batch_is_dead_lettered_alone(tmp_path):
    pipeline = _gait_pipeline(tmp_path)
    good = [_imu("bb", s) for s in range(3)]
    corrupt = bytearray(good[1].payload)
    corrupt[50] ^= 0xFF
    frames = [good[0], Message("x", bytes(corrupt), 1, False, 0), good[2]]
    out = pipeline.transform([_batch("bb", frames)])
    assert _imu_count(out, "bb") == 100 and out.held == [] and len(out.done) == 1
    (record,) = pipeline.dead_letters.read()
    # Stored as the frame the device sent, so a replay publishes it as a frame of its own.
    assert (record["topic"], record["reason"]) == ("gaitlink/v1/bb/imu", "bad_crc")
    assert base64.b64decode(record["payload_b64"]) == bytes(corrupt)
    assert pipeline.counters.gaps == 1  # seq 1 is missing from the stored timeline


def test_transform__a_broken_batch_is_one_dead_letter_and_is_acked(tmp_path):
    pipeline = _gait_pipeline(tmp_path)
    batch = _batch("bx", [_imu("bx", 0), _imu("bx", 1)])
    broken = Message(batch.topic, batch.payload + b"\0", 1, False, 7)
    out = pipeline.transform([broken, _imu("fine", 0)])
    assert out.done == [broken, out.per_message[0][0]] and _imu_count(out, "fine") == 50
    (record,) = pipeline.dead_letters.read()
    assert (record["topic"], record["reason"]) == (batch.topic, "batch_bad_length")
    assert record["device"] == "bx" and pipeline.counters.frame_batches == 0


def test_transform__frames_of_a_batch_and_their_single_copies_are_deduplicated(tmp_path):
    pipeline = _gait_pipeline(tmp_path)
    frames = [_imu("bdup", s) for s in range(3)]
    first = pipeline.transform([frames[0], _batch("bdup", frames)])
    again = pipeline.transform([_batch("bdup", frames[1:]), frames[2]])
    assert _imu_count(first, "bdup") == 150 and _imu_count(again, "bdup") == 0
    assert pipeline.counters.duplicates == 4


def test_transform__an_internal_error_on_one_frame_holds_its_whole_batch(tmp_path):
    book = _Book({}, DeviceProfile())
    broken = {"on": True}
    real_to_body = book.to_body
    calls = {"n": 0}

    def to_body(device, samples):
        calls["n"] += 1
        if calls["n"] == 2 and broken["on"]:  # the batch's second frame
            raise ZeroDivisionError("a bug in the ingest")
        return real_to_body(device, samples)

    book.to_body = to_body
    pipeline = _gait_pipeline(tmp_path, book, retry_delay_s=0.0)
    batch = _batch("bh", [_imu("bh", s) for s in range(3)])
    out = pipeline.transform([batch])
    # Its good frames are written; the batch is not acked, so the broker keeps it.
    assert _imu_count(out, "bh") == 100 and out.held == [batch] and out.done == []
    broken["on"] = False
    retried = pipeline.transform(pipeline.due_retries())
    assert _imu_count(retried, "bh") == 50 and retried.done == [batch]
    assert pipeline.counters.duplicates == 2 and pipeline.problems() == []
