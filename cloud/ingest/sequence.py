"""Per-device frame sequence tracking: duplicates, gaps, late frames and seq jumps.

A frame's key is (device, boot_id, seq). Within one boot, seq counts up by one per frame
and wraps at 2**32, so comparisons are modular. Per boot the tracker keeps a head (the next
expected seq) and a bitmap of which of the `window` seqs behind it were seen, so a frame
behind the head is a duplicate only if its key was actually seen; one that was skipped is
late (the device resends unacknowledged frames after a reconnect, out of order), and one
older than the bitmap cannot be judged and is written (InfluxDB's overwrite of the same
series and timestamp makes a repeat harmless).

The head moves only for frames that fit the device's timeline: at most `horizon_s` of
frames ahead, at the device's own rate, and with a t0 within `t0_tolerance_s` of where that
seq should start. Anything else is a seq jump: written and reported, but it does not move
the head, so one forged or corrupt frame cannot make the real ones after it look like
duplicates. A device that really jumped (say, ten minutes of frames lost upstream) sends
`confirm` consistent frames in a row from its new place, and the head follows it there.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

_WRAP = 1 << 32
_HALF = 1 << 31


class Verdict(Enum):
    NEXT = "next"  # the expected frame, or the first of a device/boot
    GAP = "gap"  # new, but frames were skipped before it
    LATE = "late"  # new, but its successors have already arrived
    DUPLICATE = "duplicate"  # already seen: drop
    JUMP = "jump"  # does not fit the timeline: write, flag, report; the head stays


@dataclass(frozen=True, slots=True)
class Observation:
    verdict: Verdict
    skipped: int = 0  # frames skipped, for GAP
    # For the first frame seen of a boot: seqs start at 0 at boot, so this many came
    # before it unseen (lost upstream, or written before this process started).
    unseen_before: int = 0
    ahead: int = 0  # JUMP: how far past the head the seq was
    rebased: bool = False  # JUMP: this frame confirmed the jump and the head moved to it
    unjudged: bool = False  # LATE: older than the bitmap, so maybe a repeat (harmless)


@dataclass(slots=True)
class _Boot:
    head: int  # next expected seq
    seen: bytearray  # bit (seq % window) set: seen, for seqs in [head - window, head)
    last_t0_us: int  # t0 of the frame at head - 1, and its duration: the timeline
    frame_us: int
    jump_seq: int = -1  # the latest seq jump, a candidate new head, and how many in a row
    jump_end_us: int = 0
    jump_run: int = 0


class SequenceTracker:
    """Tracks one device. Memory: `window` bits for each of at most `max_boots` boots."""

    def __init__(
        self,
        *,
        window: int = 4096,
        max_boots: int = 4,
        horizon_s: float = 600.0,
        t0_tolerance_s: float = 60.0,
        confirm: int = 3,
    ) -> None:
        if window % 8:
            raise ValueError("window must be a multiple of 8")
        self._boots: OrderedDict[int, _Boot] = OrderedDict()
        self._window = window
        self._max_boots = max_boots
        self._horizon_us = round(horizon_s * 1e6)
        self._tolerance_us = round(t0_tolerance_s * 1e6)
        self._confirm = confirm

    def observe(self, boot_id: int, seq: int, t0_us: int, frame_us: int) -> Observation:
        """Classify a frame and remember it; `frame_us` is its duration (n × period)."""
        boot = self._boots.get(boot_id)
        if boot is None:
            boot = _Boot(seq, bytearray(self._window // 8), t0_us, frame_us)
            self._advance(boot, seq, t0_us, frame_us)
            self._boots[boot_id] = boot
            while len(self._boots) > self._max_boots:
                self._boots.popitem(last=False)
            return Observation(Verdict.NEXT, unseen_before=seq)
        ahead = (seq - boot.head) % _WRAP
        if ahead < _HALF:
            if not self._fits(boot, ahead, t0_us):
                return self._jump(boot, seq, t0_us, frame_us, ahead)
            self._advance(boot, seq, t0_us, frame_us)
            return Observation(Verdict.GAP, skipped=ahead) if ahead else Observation(Verdict.NEXT)
        if (boot.head - 1 - seq) % _WRAP >= self._window:
            return Observation(Verdict.LATE, unjudged=True)
        if self._is_seen(boot, seq):
            return Observation(Verdict.DUPLICATE)
        self._mark(boot, seq, True)
        return Observation(Verdict.LATE)

    def forget(self, boot_id: int, seq: int) -> None:
        """Unsee a frame that was observed but not written, so its retry is not a duplicate."""
        boot = self._boots.get(boot_id)
        if boot is not None and (boot.head - 1 - seq) % _WRAP < self._window:
            self._mark(boot, seq, False)

    def _fits(self, boot: _Boot, ahead: int, t0_us: int) -> bool:
        step = max(boot.frame_us, 1)
        if ahead * step > self._horizon_us:
            return False
        expected = boot.last_t0_us + (ahead + 1) * boot.frame_us
        return abs(t0_us - expected) <= self._tolerance_us

    def _jump(self, boot: _Boot, seq: int, t0_us: int, frame_us: int, ahead: int) -> Observation:
        follows = (
            boot.jump_run
            and seq == (boot.jump_seq + 1) % _WRAP
            and abs(t0_us - boot.jump_end_us) <= self._tolerance_us
        )
        boot.jump_run = boot.jump_run + 1 if follows else 1
        boot.jump_seq, boot.jump_end_us = seq, t0_us + frame_us
        if boot.jump_run < self._confirm:
            return Observation(Verdict.JUMP, ahead=ahead)
        # The device is really there: move the head, remembering the run as seen.
        run = boot.jump_run
        self._advance(boot, seq, t0_us, frame_us)
        for back in range(1, run):
            self._mark(boot, (seq - back) % _WRAP, True)
        return Observation(Verdict.JUMP, ahead=ahead, rebased=True)

    def _advance(self, boot: _Boot, seq: int, t0_us: int, frame_us: int) -> None:
        # Seqs entering the bitmap (head .. seq) are unseen, except seq itself.
        for s in range(boot.head, boot.head + min((seq - boot.head) % _WRAP, self._window)):
            self._mark(boot, s % _WRAP, False)
        self._mark(boot, seq, True)
        boot.head = (seq + 1) % _WRAP
        boot.last_t0_us, boot.frame_us = t0_us, frame_us
        boot.jump_run = 0

    def _mark(self, boot: _Boot, seq: int, seen: bool) -> None:
        bit = seq % self._window
        if seen:
            boot.seen[bit >> 3] |= 1 << (bit & 7)
        else:
            boot.seen[bit >> 3] &= ~(1 << (bit & 7)) & 0xFF

    def _is_seen(self, boot: _Boot, seq: int) -> bool:
        bit = seq % self._window
        return bool(boot.seen[bit >> 3] & (1 << (bit & 7)))
