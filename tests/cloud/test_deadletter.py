import base64

from gaitlink.cloud.ingest.deadletter import DeadLetterStore


def test_dead_letters__keep_payload_and_reason(tmp_path):
    store = DeadLetterStore(tmp_path / "dl.jsonl")
    store.put("gaitlink/v1/d1/imu", b"\x00\xff", "bad_crc", "crc mismatch")
    (record,) = store.read()
    assert record["reason"] == "bad_crc" and record["topic"] == "gaitlink/v1/d1/imu"
    assert base64.b64decode(record["payload_b64"]) == b"\x00\xff"
    assert store.by_reason == {"bad_crc": 1}


def test_dead_letters__bounded_by_rotation_and_losses_counted(tmp_path):
    store = DeadLetterStore(tmp_path / "dl.jsonl", max_bytes=2000)
    for i in range(100):
        store.put("t", bytes(100), "short", f"record {i}")
    current = store.path.stat().st_size
    rotated = store.path.with_name("dl.jsonl.1").stat().st_size
    assert current <= 2000 and rotated <= 2000
    kept = len(store.read()) + len(store.path.with_name("dl.jsonl.1").read_text().splitlines())
    assert kept + store.rotated_away == 100
    assert store.rotated_away > 0
