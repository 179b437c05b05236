# Samples the IMU on a fixed schedule and fills frames into the ring.
#
# Slot n is due at start + n * period (ticks). A late wake-up is caught up: the samples of
# slots already due are read back to back, keeping their slots, as long as the sampler is
# less than CATCHUP_SLOTS behind (scheduler and GC hiccups). Further behind, the missed
# slots are skipped: the frame in progress is closed (samples in a frame stay evenly
# spaced) and the next frame carries OVERRUN. Clip detection and the IMU range checks set
# the frame's quality bits.
import asyncio
import time
from array import array

import frame
from drivers.mpu6050 import COUNT_MAX, COUNT_MIN
from micropython import const

_CH = ("ax", "ay", "az", "gx", "gy", "gz")
_MASK32 = const(0xFFFFFFFF)
CATCHUP_SLOTS = const(10)


def _count_limit(value, scale):
    c = int(value / scale)
    return max(COUNT_MIN, min(COUNT_MAX, c))


class Sampler:
    def __init__(self, imu, ring, clock, boot_id, cfg, on_frame=None):
        self.imu = imu
        self.on_frame = on_frame  # called after each finished frame (wakes the uplink)
        self.ring = ring
        self.clock = clock
        self.boot_id = boot_id
        self.period_us = 1000000 // cfg["rate_hz"]
        self.spf = cfg["samples_per_frame"]
        self.max_samples = cfg["max_samples"]
        self.builder = frame.FrameBuilder(self.spf)
        self.counts = array("h", bytes(12))
        # range checks in counts; a channel without a check gets limits it can never cross
        self.lo = array("h", bytes(12))
        self.hi = array("h", bytes(12))
        checks = cfg["range_checks"]
        for j in range(6):
            scale = imu.acc_scale if j < 3 else imu.gyro_scale
            lim = checks.get(_CH[j])
            self.lo[j] = _count_limit(lim[0], scale) if lim else COUNT_MIN
            self.hi[j] = _count_limit(lim[1], scale) if lim else COUNT_MAX
        self.samples = 0
        self.frames = 0
        self.seq = 0
        self.first_t0_us = None
        self.last_sample_us = None  # time of the newest sample in a finished frame
        self._t0 = 0
        self.overruns = 0  # skipped slots
        self.sensor_errors = 0
        self.range_violations = 0  # frames with RANGE_VIOLATION
        self.done = asyncio.Event()

    def _begin(self, base_us, slot, carry):
        flags = frame.TIME_SYNCED if self.clock.synced else 0
        t0 = base_us + self.clock.offset_us + slot * self.period_us
        if self.first_t0_us is None:
            self.first_t0_us = t0
        self._t0 = t0
        self.builder.begin(
            flags,
            self.boot_id,
            self.seq,
            t0,
            self.period_us,
            self.imu.acc_scale,
            self.imu.gyro_scale,
        )
        self.builder.quality = carry

    def _finish(self):
        b = self.builder
        if b.quality & frame.RANGE_VIOLATION:
            self.range_violations += 1
        self.ring.push(b.finish())
        self.last_sample_us = self._t0 + (b.n - 1) * self.period_us
        b.n = 0
        self.frames += 1
        self.seq = (self.seq + 1) & _MASK32
        if self.on_frame:
            self.on_frame()

    def _check(self):
        # quality bits of the sample in self.counts
        q = 0
        c = self.counts
        for j in range(6):
            v = c[j]
            if v >= COUNT_MAX or v <= COUNT_MIN:
                q |= frame.ACC_CLIPPED if j < 3 else frame.GYRO_CLIPPED
            if v < self.lo[j] or v > self.hi[j]:
                q |= frame.RANGE_VIOLATION
        return q

    async def run(self):
        period = self.period_us
        b = self.builder
        due = time.ticks_us()
        base_us = self.clock.raw_us()  # epoch time of slot 0, before any beacon offset
        slot = 0
        carry = 0  # quality bits owed to the next frame
        while not self.max_samples or self.samples < self.max_samples:
            late = time.ticks_diff(time.ticks_us(), due)
            if late < 0:
                await asyncio.sleep_ms((999 - late) // 1000)
                continue
            if late >= CATCHUP_SLOTS * period:
                missed = late // period
                slot += missed
                due = time.ticks_add(due, missed * period)
                self.overruns += missed
                if b.n:
                    self._finish()
                carry |= frame.OVERRUN
            if not b.n:
                self._begin(base_us, slot, carry)
                carry = 0
            try:
                self.imu.read_into(self.counts)  # on error the previous counts repeat
            except OSError:
                self.sensor_errors += 1
                b.quality |= frame.SENSOR_ERROR
            b.quality |= self._check()
            b.add(self.counts)
            self.samples += 1
            slot += 1
            due = time.ticks_add(due, period)
            if b.n == self.spf:
                self._finish()
        if b.n:
            self._finish()
        self.done.set()
