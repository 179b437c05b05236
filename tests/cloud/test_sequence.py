from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.ingest.sequence import SequenceTracker, Verdict


def test_sequence__in_order_then_duplicate():
    t = SequenceTracker()
    assert [t.observe(1, s).verdict for s in (5, 6, 7)] == [Verdict.NEXT] * 3
    assert t.observe(1, 6).verdict is Verdict.DUPLICATE


def test_sequence__gap_then_late_then_duplicate():
    t = SequenceTracker()
    t.observe(1, 0)
    gap = t.observe(1, 4)
    assert gap.verdict is Verdict.GAP and gap.skipped == 3
    assert t.observe(1, 2).verdict is Verdict.LATE
    assert t.observe(1, 2).verdict is Verdict.DUPLICATE
    assert t.observe(1, 5).verdict is Verdict.NEXT


def test_sequence__wraps_at_32_bits():
    t = SequenceTracker()
    t.observe(1, 2**32 - 1)
    assert t.observe(1, 0).verdict is Verdict.NEXT
    assert t.observe(1, 2**32 - 1).verdict is Verdict.DUPLICATE


def test_sequence__new_boot_starts_fresh_and_old_boot_is_remembered():
    t = SequenceTracker()
    t.observe(1, 10)
    assert t.observe(2, 0).verdict is Verdict.NEXT
    assert t.observe(1, 10).verdict is Verdict.DUPLICATE


def test_sequence__missing_is_bounded_and_counted():
    t = SequenceTracker(max_missing=10)
    t.observe(1, 0)
    assert t.observe(1, 1001).skipped == 1000
    assert t.forgotten_missing == 990
    assert t.observe(1, 995).verdict is Verdict.LATE  # among the most recent 10
    assert t.observe(1, 5).verdict is Verdict.DUPLICATE  # forgotten: reported, not written


def test_sequence__older_than_first_seen_is_accepted_as_late():
    t = SequenceTracker()
    t.observe(1, 100)
    assert t.observe(1, 90).verdict is Verdict.LATE


@given(st.permutations(range(60)), st.integers(0, 2**32 - 1), st.data())
def test_sequence__any_order_accepts_every_frame_and_no_repeat_after_the_first(order, start, data):
    # Any arrival order, with duplicates sprinkled in after every frame has arrived once.
    repeats = data.draw(st.lists(st.sampled_from(order), max_size=30))
    t = SequenceTracker()
    accepted = []
    for s in list(order) + repeats:
        if t.observe(7, (start + s) % 2**32).verdict is not Verdict.DUPLICATE:
            accepted.append(s)
    assert set(accepted) == set(range(60))
    # Only frames older than the first one seen can be accepted twice (see sequence.py).
    twice = {s for s in accepted if accepted.count(s) > 1}
    assert all(s < order[0] for s in twice)


def test_sequence__first_frame_of_a_boot_reports_the_seqs_before_it():
    t = SequenceTracker()
    assert t.observe(1, 0).unseen_before == 0
    assert t.observe(2, 7).unseen_before == 7
    assert t.observe(2, 8).unseen_before == 0
