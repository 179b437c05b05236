"""gateway.batch.pack: which spooled rows go to the cloud together (docs/protocol.md §2.5)."""

from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.protocol.batch import decode_batch
from gaitlink.gateway.batch import Outgoing, pack
from gaitlink.gateway.spool import Stored


def _row(i: int, device: str, kind: str = "imu", size: int = 100) -> Stored:
    return Stored(i, device, f"gaitlink/v1/{device}/{kind}", bytes([i % 256]) * size)


def _frames_of(out: Outgoing) -> list[bytes]:
    return decode_batch(out.payload) if out.topic.endswith("/batch") else [out.payload]


def test_pack__frames_of_one_device_go_together_others_alone():
    rows = [_row(1, "a"), _row(2, "b"), _row(3, "a"), _row(4, "a"), _row(5, "b", "env")]
    out = pack(rows, max_frames=50, max_bytes=65536)
    assert [(o.topic, o.ids) for o in out] == [
        ("gaitlink/v1/b/imu", (2,)),  # b's one frame goes as it came, before b's env
        ("gaitlink/v1/b/env", (5,)),
        ("gaitlink/v1/a/imu/batch", (1, 3, 4)),
    ]
    assert _frames_of(out[2]) == [rows[0].payload, rows[2].payload, rows[3].payload]


def test_pack__another_message_of_the_device_closes_its_batch_first():
    rows = [_row(1, "a"), _row(2, "a"), _row(3, "a", "status"), _row(4, "a"), _row(5, "a")]
    out = pack(rows, max_frames=50, max_bytes=65536)
    assert [o.ids for o in out] == [(1, 2), (3,), (4, 5)]


def test_pack__bounds_of_frames_and_bytes():
    rows = [_row(i, "a", size=1000) for i in range(1, 8)]
    assert [o.ids for o in pack(rows, max_frames=3, max_bytes=65536)] == [
        (1, 2, 3), (4, 5, 6), (7,),
    ]  # fmt: skip
    # 6 + 2 x (4 + 1000) = 2014 bytes fit 2100; a third frame would not.
    out = pack(rows, max_frames=50, max_bytes=2100)
    assert [o.ids for o in out] == [(1, 2), (3, 4), (5, 6), (7,)]
    assert max(len(o.payload) for o in out) <= 2100


def test_pack__one_frame_per_batch_is_no_batching():
    rows = [_row(i, "a") for i in range(1, 5)]
    assert [(o.topic, o.ids) for o in pack(rows, 1, 65536)] == [
        ("gaitlink/v1/a/imu", (i,)) for i in range(1, 5)
    ]


rows_strategy = st.lists(
    st.tuples(st.sampled_from("abc"), st.sampled_from(["imu", "imu", "imu", "env"]),
              st.integers(0, 300)),
    max_size=80,
).map(lambda spec: [_row(i + 1, d, k, n) for i, (d, k, n) in enumerate(spec)])  # fmt: skip


@given(rows_strategy, st.integers(1, 10), st.integers(300, 3000))
def test_pack__every_row_once_in_its_devices_order_within_bounds(rows, max_frames, max_bytes):
    out = pack(rows, max_frames, max_bytes)
    sent = [i for o in out for i in o.ids]
    assert sorted(sent) == [r.id for r in rows]
    by_id = {r.id: r for r in rows}
    for device in "abc":
        ids = [i for o in out for i in o.ids if by_id[i].device == device]
        assert ids == sorted(ids)
    for o in out:
        assert _frames_of(o) == [by_id[i].payload for i in o.ids]
        if len(o.ids) > 1:
            assert len(o.ids) <= max_frames and len(o.payload) <= max_bytes
            assert {by_id[i].topic for i in o.ids} == {o.topic.removesuffix("/batch")}
