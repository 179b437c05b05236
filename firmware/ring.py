# Bounded ring of finished frames awaiting the broker's PUBACK. When full, push() drops the
# OLDEST frame (in flight or not) and counts it: fresh data is worth more than stale data.
#
# Entries are addressed by absolute counters: tail <= sent <= head. [tail, head) are held,
# [tail, sent) have been handed to the uplink (in flight, or acked out of order).
from array import array

from micropython import const

QUEUED = const(0)
INFLIGHT = const(1)
ACKED = const(2)
REQUEUED = const(3)  # was in flight when the link died: resend marked RESENT


class Ring:
    def __init__(self, slot_len, capacity):
        if capacity < 2:
            raise ValueError("ring_bytes: room for at least 2 frames required")
        self.capacity = capacity
        # one block for every slot: a bytearray and a list entry per slot would cost ~1 kB
        # more on a 64-bit port. No held memoryview per slot either: push() copies by slice,
        # frame() makes its view when a frame is published
        self._slot = slot_len
        self._buf = bytearray(slot_len * capacity)
        self._lens = array("H", bytes(2 * capacity))
        self._pids = array("H", bytes(2 * capacity))
        self._state = bytearray(capacity)
        self.head = 0
        self.tail = 0
        self.sent = 0
        self.inflight = 0
        self.dropped = 0
        self.acked = 0
        self.peak = 0  # most frames ever held: the margin a link drop left

    def __len__(self):
        return self.head - self.tail

    def push(self, frame):
        n = len(frame)
        if n > self._slot:
            raise ValueError("frame > slot")  # it would overwrite the next slot
        if self.head - self.tail == self.capacity:
            self._drop_oldest()
        i = self.head % self.capacity
        o = i * self._slot
        self._buf[o : o + n] = frame  # same length: in place, the buffer never grows
        self._lens[i] = n
        self._state[i] = QUEUED
        self.head += 1
        if self.head - self.tail > self.peak:
            self.peak = self.head - self.tail

    def _drop_oldest(self):
        i = self.tail % self.capacity
        if self._state[i] == INFLIGHT:
            self.inflight -= 1
        self.tail += 1
        self.dropped += 1
        if self.sent < self.tail:
            self.sent = self.tail
        self._advance_tail()

    def _advance_tail(self):
        while self.tail < self.sent and self._state[self.tail % self.capacity] == ACKED:
            self.tail += 1

    def next_unsent(self):
        # absolute index of the next frame to publish, or -1
        while self.sent < self.head:
            if self._state[self.sent % self.capacity] != ACKED:
                return self.sent
            self.sent += 1
        return -1

    def frame(self, idx):
        i = idx % self.capacity
        o = i * self._slot
        return memoryview(self._buf)[o : o + self._lens[i]]

    def was_sent(self, idx):
        return self._state[idx % self.capacity] == REQUEUED

    def mark_sent(self, idx, pid):
        i = idx % self.capacity
        self._state[i] = INFLIGHT
        self._pids[i] = pid
        self.inflight += 1
        self.sent = idx + 1

    def ack(self, pid):
        # True if pid belonged to a held frame; late acks of dropped frames are ignored
        idx = self.tail
        while idx < self.sent:
            i = idx % self.capacity
            if self._state[i] == INFLIGHT and self._pids[i] == pid:
                self._state[i] = ACKED
                self.inflight -= 1
                self.acked += 1
                self._advance_tail()
                return True
            idx += 1
        return False

    def release(self):
        # after the run: the slots' RAM goes back to the heap; the counters stay readable
        self._buf = None

    def rewind(self):
        # after a lost link: every unacked frame goes back to the queue, marked resent
        idx = self.tail
        while idx < self.sent:
            i = idx % self.capacity
            if self._state[i] == INFLIGHT:
                self._state[i] = REQUEUED
            idx += 1
        self.sent = self.tail
        self.inflight = 0
