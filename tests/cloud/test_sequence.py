from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.ingest.sequence import SequenceTracker, Verdict

FRAME_US = 500_000  # 50 samples at 100 Hz
T0 = 1_790_000_000_000_000


def _see(t: SequenceTracker, seq: int, boot_id: int = 1, *, t0_us: int | None = None):
    # A frame on the device's timeline unless told otherwise: seq k starts k frames after T0.
    return t.observe(boot_id, seq, T0 + seq * FRAME_US if t0_us is None else t0_us, FRAME_US)


def test_sequence__in_order_then_duplicate():
    t = SequenceTracker()
    assert [_see(t, s).verdict for s in (5, 6, 7)] == [Verdict.NEXT] * 3
    assert _see(t, 6).verdict is Verdict.DUPLICATE


def test_sequence__gap_then_late_then_duplicate():
    t = SequenceTracker()
    _see(t, 0)
    gap = _see(t, 4)
    assert gap.verdict is Verdict.GAP and gap.skipped == 3
    assert _see(t, 2).verdict is Verdict.LATE
    assert _see(t, 2).verdict is Verdict.DUPLICATE
    assert _see(t, 5).verdict is Verdict.NEXT


def test_sequence__wraps_at_32_bits():
    t = SequenceTracker()
    t.observe(1, 2**32 - 1, T0, FRAME_US)
    assert t.observe(1, 0, T0 + FRAME_US, FRAME_US).verdict is Verdict.NEXT
    assert t.observe(1, 2**32 - 1, T0, FRAME_US).verdict is Verdict.DUPLICATE


def test_sequence__new_boot_starts_fresh_and_old_boot_is_remembered():
    t = SequenceTracker()
    _see(t, 10)
    assert _see(t, 0, boot_id=2).verdict is Verdict.NEXT
    assert _see(t, 10).verdict is Verdict.DUPLICATE


def test_sequence__older_than_the_bitmap_is_written_not_called_a_duplicate():
    t = SequenceTracker(window=16)
    for s in range(100, 140):
        _see(t, s)
    old = _see(t, 110)  # 29 behind the head: cannot be judged
    assert old.verdict is Verdict.LATE and old.unjudged
    assert _see(t, 130).verdict is Verdict.DUPLICATE  # within the bitmap and seen


def test_sequence__older_than_first_seen_is_accepted_as_late_once():
    t = SequenceTracker()
    _see(t, 100)
    assert _see(t, 90).verdict is Verdict.LATE
    assert _see(t, 90).verdict is Verdict.DUPLICATE


def test_sequence__forged_seq_far_ahead_does_not_move_the_head():
    t = SequenceTracker()
    for s in range(10):
        _see(t, s)
    forged = _see(t, 10 + 2**31 - 1, t0_us=T0)
    assert forged.verdict is Verdict.JUMP and not forged.rebased
    assert [_see(t, s).verdict for s in range(10, 20)] == [Verdict.NEXT] * 10


def test_sequence__seq_ahead_within_horizon_but_off_the_timeline_is_a_jump():
    t = SequenceTracker(horizon_s=600, t0_tolerance_s=60)
    _see(t, 0)
    assert _see(t, 100, t0_us=T0 + 86_400 * 10**6).verdict is Verdict.JUMP  # a day off
    assert _see(t, 1).verdict is Verdict.NEXT
    assert _see(t, 1000).verdict is Verdict.GAP  # 500 s of frames, on time: a real gap
    assert _see(t, 1001 + 1201).verdict is Verdict.JUMP  # 1201 frames skipped: 600.5 s


def test_sequence__horizon_is_time_at_the_devices_own_rate():
    t = SequenceTracker(horizon_s=600)
    fast = 40_000  # 200 samples at 5 kHz-ish: 25 frames a second
    t.observe(1, 0, T0, fast)
    assert t.observe(1, 10_000, T0 + 10_001 * fast, fast).verdict is Verdict.GAP  # 400 s
    assert t.observe(1, 30_001, T0 + 30_002 * fast, fast).verdict is Verdict.JUMP  # 800 s


def test_sequence__a_real_jump_is_followed_after_confirm_consistent_frames():
    t = SequenceTracker(confirm=3)
    _see(t, 0)
    far = 5_000  # 2500 s of frames lost upstream
    verdicts = [_see(t, far + k) for k in range(4)]
    assert [v.verdict for v in verdicts[:3]] == [Verdict.JUMP] * 3
    assert [v.rebased for v in verdicts[:3]] == [False, False, True]
    assert verdicts[3].verdict is Verdict.NEXT
    assert _see(t, far + 1).verdict is Verdict.DUPLICATE  # the run is remembered as seen
    assert _see(t, 1).verdict is Verdict.LATE  # old frames: behind the bitmap, written


def test_sequence__forget_lets_a_frame_be_seen_again():
    t = SequenceTracker()
    _see(t, 0)
    _see(t, 1)
    t.forget(1, 1)
    assert _see(t, 1).verdict is Verdict.LATE


@given(st.permutations(range(60)), st.integers(0, 2**32 - 1), st.data())
def test_sequence__any_order_accepts_every_frame_once(order, start, data):
    # Any arrival order, with duplicates sprinkled in after every frame has arrived once.
    repeats = data.draw(st.lists(st.sampled_from(order), max_size=30))
    t = SequenceTracker()
    accepted = []
    for s in list(order) + repeats:
        seq = (start + s) % 2**32
        if t.observe(7, seq, T0 + s * FRAME_US, FRAME_US).verdict is not Verdict.DUPLICATE:
            accepted.append(s)
    assert sorted(accepted) == list(range(60))


def test_sequence__first_frame_of_a_boot_reports_the_seqs_before_it():
    t = SequenceTracker()
    assert _see(t, 0).unseen_before == 0
    assert _see(t, 7, boot_id=2).unseen_before == 7
    assert _see(t, 8, boot_id=2).unseen_before == 0
