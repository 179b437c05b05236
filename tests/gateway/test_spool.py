"""The spool against real SQLite files: durability across reopen, bounds, drop policy."""

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from gaitlink.gateway.spool import ROW_OVERHEAD, Limits, Spool

ROOMY = Limits(max_bytes=1 << 30, max_age_s=3600, reserve_bytes=0)


def _topic(device: str) -> str:
    return f"gaitlink/v1/{device}/imu"


def _add(spool: Spool, device: str, n: int, start: int = 0, now: float | None = None) -> None:
    messages = [(_topic(device), f"{device}-{i}".encode() * 10) for i in range(start, start + n)]
    spool.add(messages, now)
    spool.commit()


def test_spool__reopened_after_a_crash_holds_what_was_committed(tmp_path):
    spool = Spool(tmp_path / "spool.db", ROOMY)
    _add(spool, "a", 3)
    spool.add([(_topic("a"), b"never committed")])  # the crash comes before this commit
    # No close(): a second connection sees only what the first made durable.
    again = Spool(tmp_path / "spool.db", ROOMY)
    assert [m.payload for m in again.after(0, 10)] == [b"a-0" * 10, b"a-1" * 10, b"a-2" * 10]
    assert again.messages == 3 and again.load["a"].messages == 3
    assert again.bytes == spool.bytes - (len(b"never committed") + len(_topic("a")) + ROW_OVERHEAD)


def test_spool__wal_and_full_sync_are_on(tmp_path):
    Spool(tmp_path / "spool.db", ROOMY).close()
    db = sqlite3.connect(tmp_path / "spool.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_spool__remove_delivered_forgets_what_the_cloud_acked(tmp_path):
    spool = Spool(tmp_path / "spool.db", ROOMY)
    _add(spool, "a", 4)
    rows = spool.after(0, 10)
    spool.remove_delivered([(m.id, m.device, m.size) for m in rows[:2]])
    spool.commit()
    assert [m.id for m in spool.after(0, 10)] == [m.id for m in rows[2:]]
    assert spool.messages == 2 and spool.bytes == sum(m.size for m in rows[2:])
    assert Spool(tmp_path / "spool.db", ROOMY).messages == 2


def test_spool__bounds_never_drop_what_is_in_flight(tmp_path):
    spool = Spool(tmp_path / "spool.db", ROOMY)
    _add(spool, "a", 6)
    handed_out = spool.after(0, 4)
    spool.in_flight_through = handed_out[-1].id
    spool.limits = Limits(max_bytes=handed_out[0].size * 3, max_age_s=3600, reserve_bytes=0)
    spool.housekeeping()
    spool.commit()
    # Only the two not yet handed out could go; the four in flight stay, over the bound.
    assert spool.dropped == {("a", "full"): 2}
    assert [m.id for m in spool.after(0, 10)] == [m.id for m in handed_out]


def test_spool__after_keeps_arrival_order_across_devices(tmp_path):
    spool = Spool(tmp_path / "spool.db", ROOMY)
    spool.add([(_topic(d), f"{d}{i}".encode()) for i in range(3) for d in ("a", "b")])
    spool.commit()
    got = spool.after(0, 100)
    assert [m.payload for m in got] == [b"a0", b"b0", b"a1", b"b1", b"a2", b"b2"]
    assert [m.payload for m in spool.after(got[2].id, 2)] == [b"b1", b"a2"]


def test_spool__full_drops_the_oldest_of_the_fullest_device(tmp_path):
    one = len(b"a-0" * 10) + len(_topic("a")) + ROW_OVERHEAD  # every row here has this size
    spool = Spool(tmp_path / "spool.db", Limits(max_bytes=1 << 20, max_age_s=3600, reserve_bytes=0))
    spool.limits = Limits(max_bytes=10 * one, max_age_s=3600, reserve_bytes=0)
    _add(spool, "a", 7)
    _add(spool, "b", 3)
    assert spool.dropped == {}
    _add(spool, "b", 2, start=3)  # two over: a holds most, its two oldest go
    assert spool.dropped == {("a", "full"): 2}
    assert [m.payload[:3] for m in spool.after(0, 100) if m.device == "a"] == [
        b"a-2",
        b"a-3",
        b"a-4",
        b"a-5",
        b"a-6",
    ]
    assert spool.messages == 10 and spool.bytes == 10 * one
    _add(spool, "b", 4, start=5)  # now b is the fullest after a first drop
    assert sum(spool.dropped.values()) == 6 and spool.bytes <= 10 * one
    assert spool.dropped[("b", "full")] >= 1


def test_spool__messages_older_than_max_age_are_dropped_and_counted(tmp_path):
    spool = Spool(tmp_path / "spool.db", Limits(max_bytes=1 << 20, max_age_s=60, reserve_bytes=0))
    _add(spool, "a", 3, now=1000.0)
    _add(spool, "b", 2, now=1050.0)
    spool.housekeeping(now=1070.0)
    spool.commit()
    assert spool.dropped == {("a", "age"): 3}
    assert [m.device for m in spool.after(0, 10)] == ["b", "b"]
    assert spool.oldest_age_s(now=1070.0) == 20.0


def test_spool__free_space_reserve_bounds_the_spool_below_max_bytes(tmp_path):
    spool = Spool(tmp_path / "spool.db", ROOMY)
    _add(spool, "a", 5)
    # A reserve larger than the free space: the spool may hold nothing more.
    spool.limits = Limits(max_bytes=1 << 30, max_age_s=3600, reserve_bytes=1 << 62)
    spool.housekeeping()
    spool.commit()
    assert spool.capacity_bytes() == 0
    assert spool.messages == 0 and spool.dropped == {("a", "reserve"): 5}


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.sampled_from("abc"), st.binary(max_size=300)),
            st.tuples(st.just("ack"), st.integers(0, 40), st.none()),
            st.tuples(st.just("send"), st.integers(0, 5), st.none()),
        ),
        max_size=60,
    )
)
def test_spool__bookkeeping_matches_the_table(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("spool") / "spool.db"
    spool = Spool(path, Limits(max_bytes=2000, max_age_s=3600, reserve_bytes=0))
    for op, arg, payload in ops:
        rows = spool.after(0, 10_000)
        in_flight = {r.id for r in rows if r.id <= spool.in_flight_through}
        if op == "add":
            spool.add([(_topic(arg), payload)])
            spool.commit()
            # Only adding pushes the spool over its bound: what is in flight survives it.
            assert in_flight <= {r.id for r in spool.after(0, 10_000)}
        elif op == "send":  # hand the next few to the cloud
            sent = spool.after(spool.in_flight_through, arg)
            spool.in_flight_through = sent[-1].id if sent else spool.in_flight_through
        elif in_flight:
            acked = next(r for r in rows if r.id == sorted(in_flight)[arg % len(in_flight)])
            spool.remove_delivered([(acked.id, acked.device, acked.size)])
            spool.commit()
    rows = spool.after(0, 10_000)
    assert spool.messages == len(rows)
    assert spool.bytes == sum(r.size for r in rows)
    # Over the bound only by what is in flight.
    in_flight_bytes = sum(r.size for r in rows if r.id <= spool.in_flight_through)
    assert spool.bytes <= max(2000, in_flight_bytes + max((r.size for r in rows), default=0))
    reopened = Spool(path, spool.limits)
    assert (reopened.messages, reopened.bytes) == (spool.messages, spool.bytes)
    # Per device, what is left is in the order it came.
    for device in "abc":
        ids = [r.id for r in rows if r.device == device]
        assert ids == sorted(ids)


def test_spool__recover_after_a_failed_turn_matches_the_table(tmp_path):
    spool = Spool(tmp_path / "spool.db", ROOMY)
    _add(spool, "a", 3)
    spool.add([(_topic("b"), b"uncommitted")])  # the turn that fails before its commit
    spool.recover()
    assert spool.messages == 3 and set(spool.load) == {"a"}
    assert [m.device for m in spool.after(0, 10)] == ["a", "a", "a"]
    _add(spool, "c", 1)  # and it works on
    assert spool.messages == 4
