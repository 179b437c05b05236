import base64
import hashlib

from gaitlink.cloud.ingest.deadletter import DeadLetterStore, payload_of


def _size(store: DeadLetterStore) -> int:
    return sum(p.stat().st_size for p in store.path.rglob("*.jsonl") if p.parent != store.path)


def test_dead_letters__keep_payload_reason_length_and_sha256(tmp_path):
    store = DeadLetterStore(tmp_path / "dl")
    store.put("gaitlink/v1/d1/imu", b"\x00\xff", "bad_crc", "crc mismatch", device="d1")
    (record,) = store.read()
    assert record["reason"] == "bad_crc" and record["topic"] == "gaitlink/v1/d1/imu"
    assert record["device"] == "d1" and record["length"] == 2 and not record["truncated"]
    assert record["sha256"] == hashlib.sha256(b"\x00\xff").hexdigest()
    assert base64.b64decode(record["payload_b64"]) == b"\x00\xff"
    assert store.by_reason == {"bad_crc": 1}
    assert store.get(record["id"]) == record


def test_dead_letters__a_huge_payload_is_capped_but_described(tmp_path):
    store = DeadLetterStore(tmp_path / "dl", payload_max_bytes=1000)
    garbage = bytes(range(256)) * 40_000  # 10 MB
    store.put("gaitlink/v1/d1/imu", garbage, "bad_magic", "x", device="d1")
    (record,) = store.read()
    assert record["truncated"] and record["length"] == len(garbage)
    assert payload_of(record) == garbage[:1000]
    assert record["sha256"] == hashlib.sha256(garbage).hexdigest()
    assert _size(store) < 3000


def test_dead_letters__a_flood_from_one_device_evicts_only_its_own_oldest(tmp_path):
    store = DeadLetterStore(tmp_path / "dl", max_bytes=100_000, max_bytes_per_source=20_000)
    for i in range(10):
        store.put("gaitlink/v1/quiet/imu", bytes(50), "bad_crc", f"quiet {i}", device="quiet")
    for i in range(500):
        store.put("gaitlink/v1/noisy/imu", bytes(100), "short", f"noisy {i}", device="noisy")
    assert len(store.read(device="quiet")) == 10
    noisy = store.read(device="noisy")
    assert noisy[-1]["detail"] == "noisy 499"  # the newest are kept, the oldest went
    assert store.evicted_by_reason["short"] == 500 - len(noisy) > 0
    assert "bad_crc" not in store.evicted_by_reason
    assert _size(store) <= 100_000 and sum(len(r["payload_b64"]) for r in noisy) < 20_000


def test_dead_letters__when_full_the_noisiest_source_goes_first(tmp_path):
    store = DeadLetterStore(tmp_path / "dl", max_bytes=30_000, max_bytes_per_source=20_000)
    for i in range(40):
        store.put("gaitlink/v1/a/imu", bytes(200), "short", f"a {i}", device="a")
    for i in range(30):
        store.put("gaitlink/v1/b/imu", bytes(20), "bad_crc", f"b {i}", device="b")
    assert len(store.read(device="b")) == 30
    assert store.evicted_by_reason == {"short": 40 - len(store.read(device="a"))}
    assert _size(store) <= 30_000
    assert store.stats()["dead_letter_store_bytes"] == _size(store)


def test_dead_letters__reopened_store_keeps_records_bounds_and_replay_marks(tmp_path):
    store = DeadLetterStore(tmp_path / "dl", max_bytes=50_000)
    ids = [store.put("gaitlink/v1/d/imu", bytes(10), "short", str(i), device="d") for i in range(5)]
    store.sync()
    store.mark_replayed(ids[:2])
    # A crash mid-append leaves a torn last line: it is skipped, not an error.
    with open(next((tmp_path / "dl" / "d").glob("*.jsonl")), "ab") as f:
        f.write(b'{"id": "torn')
    again = DeadLetterStore(tmp_path / "dl", max_bytes=50_000)
    records = again.read()
    assert [r["detail"] for r in records] == ["0", "1", "2", "3", "4"]
    assert [r["replayed"] for r in records] == [True, True, False, False, False]
    assert again.stats()["dead_letter_store_bytes"] == _size(again)


def test_dead_letters__unknown_topic_has_its_own_source(tmp_path):
    store = DeadLetterStore(tmp_path / "dl")
    store.put("not/ours", b"x", "bad_topic", "?")
    assert store.read()[0]["device"] is None and (tmp_path / "dl" / "_unknown").is_dir()
