"""Per-device frame sequence tracking: duplicates, gaps and late frames.

A frame's key is (device, boot_id, seq). Within one boot, seq counts up by one per frame
and wraps at 2**32, so comparisons are modular. Seqs skipped over by a gap are remembered
(boundedly) so that a frame arriving after its successors is recognised as late, not as a
duplicate: the device resends unacknowledged frames after a reconnect, out of order.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

_WRAP = 1 << 32
_HALF = 1 << 31


class Verdict(Enum):
    NEXT = "next"  # the expected frame, or the first of a device/boot
    GAP = "gap"  # new, but frames were skipped before it
    LATE = "late"  # new, but its successors have already arrived
    DUPLICATE = "duplicate"  # already seen: drop


@dataclass(slots=True)
class _Boot:
    first_seq: int
    next_seq: int
    # Seqs skipped by gaps and not yet seen; insertion-ordered so the oldest go first.
    missing: OrderedDict[int, None] = field(default_factory=OrderedDict)


@dataclass(frozen=True, slots=True)
class Observation:
    verdict: Verdict
    skipped: int = 0  # frames skipped, for GAP
    # For the first frame seen of a boot: seqs start at 0 at boot, so this many came
    # before it unseen (lost upstream, or written before this process started).
    unseen_before: int = 0


class SequenceTracker:
    """Tracks one device. Memory is bounded by `max_missing` and `max_boots`."""

    def __init__(self, *, max_missing: int = 4096, max_boots: int = 4) -> None:
        self._boots: OrderedDict[int, _Boot] = OrderedDict()
        self._max_missing = max_missing
        self._max_boots = max_boots
        self.forgotten_missing = 0  # skipped seqs dropped from memory (bound reached)

    def observe(self, boot_id: int, seq: int) -> Observation:
        boot = self._boots.get(boot_id)
        if boot is None:
            self._boots[boot_id] = _Boot(first_seq=seq, next_seq=(seq + 1) % _WRAP)
            while len(self._boots) > self._max_boots:
                self._boots.popitem(last=False)
            return Observation(Verdict.NEXT, unseen_before=seq)
        ahead = (seq - boot.next_seq) % _WRAP
        if ahead == 0:
            boot.next_seq = (seq + 1) % _WRAP
            return Observation(Verdict.NEXT)
        if ahead < _HALF:
            # Remember the most recent skipped seqs: those are the ones a resend brings.
            remembered = min(ahead, self._max_missing)
            for s in range(seq - remembered, seq):
                boot.missing[s % _WRAP] = None
            self.forgotten_missing += max(0, ahead - self._max_missing)
            while len(boot.missing) > self._max_missing:
                boot.missing.popitem(last=False)
                self.forgotten_missing += 1
            boot.next_seq = (seq + 1) % _WRAP
            return Observation(Verdict.GAP, skipped=ahead)
        if seq in boot.missing:
            del boot.missing[seq]
            return Observation(Verdict.LATE)
        if 0 < (boot.first_seq - seq) % _WRAP < _HALF:
            # Older than anything this process saw of the boot (e.g. the ingest restarted):
            # it may be new. Accept it; if it was in fact written before, InfluxDB's
            # overwrite of the same series and timestamp makes the repeat harmless.
            return Observation(Verdict.LATE)
        return Observation(Verdict.DUPLICATE)
