# Takes the IMU's samples and fills frames into the ring.
#
# FIFO mode (default): the sensor's FIFO is read in bursts of `burst` samples (about 50 ms
# worth, at most a quarter of the FIFO), so every sample is a real sample from the sensor's
# own clock, and a hiccup of the interpreter (GC, reconnect) is absorbed by the FIFO. Sample
# k's time comes from the sensor's sample count and its measured rate (clock.SampleClock),
# not from wake-up times. An overflow (the sampler fell behind by more than the FIFO holds)
# leaves the byte stream misaligned: the FIFO is reset, which resynchronises on a sample
# boundary, the lost samples are counted from the sample clock, and the next frame carries
# OVERRUN.
#
# Poll mode (a sensor without a FIFO, `"fifo": false` in the board profile): the data
# registers are read when DATA_RDY says the sensor took a new sample; a sample that was
# overwritten before it was read is counted as missed and the next frame carries OVERRUN.
# No sample is ever written twice.
#
# Faults never stop the sampler: a bus error is counted and flagged (SENSOR_ERROR); after
# LOST_AFTER errors in a row, or no new sample for STALL_MS, the sensor counts as gone and
# is re-initialised every RETRY_MS until it answers; N identical samples in a row
# (`stuck_samples`) flag SENSOR_STUCK; clipped samples flag ACC_/GYRO_CLIPPED. Samples in a
# frame are always consecutive: any gap closes the frame in progress.
import asyncio
import sys
import time

import frame
from clock import STEP_US
from drivers.mpu6050 import decode
from micropython import const

_MASK32 = const(0xFFFFFFFF)
# frame.py's quality bits and the int16 limits: const() does not cross modules, and a
# module attribute lookup per sample would cost a dictionary lookup
_ACC_CLIPPED = const(0x01)
_GYRO_CLIPPED = const(0x02)
_RANGE_VIOLATION = const(0x04)
_OVERRUN = const(0x08)
_SENSOR_ERROR = const(0x10)
_SENSOR_STUCK = const(0x20)
_COUNT_MAX = const(32767)
_COUNT_MIN = const(-32768)
_SAMPLE_BYTES = const(12)
_BURST_MS = const(50)
LOST_AFTER = const(5)
STALL_MS = const(250)
RETRY_MS = const(500)


class Sampler:
    def __init__(
        self, imu, ring, clock, boot_id, cfg, fifo=True, on_frame=None, on_fault=None, builder=None
    ):
        # set up by sampler_setup.py, loaded for this only (at boot, and at a config change
        # that sets the same object up again): here, its code would hold ~1 kB of heap for
        # the whole run (the attributes are listed there)
        import sampler_setup

        sampler_setup.setup(self, imu, ring, clock, boot_id, cfg, fifo, on_frame, on_fault, builder)
        del sys.modules["sampler_setup"]

    # -- frames ---------------------------------------------------------------------------
    def _begin(self):
        flags = frame.TIME_SYNCED if self.clock.synced else 0
        t0 = self._base_us + self.clock.offset_us() + self.sclock.rel_us(self.k)
        nxt = self._next_t0
        stepped = self.clock.steps != self._steps
        self._steps = self.clock.steps
        if nxt is not None:
            # Right after the previous frame: follow the estimate by at most a quarter
            # period per frame, so that frame times neither jump nor overlap (protocol
            # §2.1). A clock step forward is followed at once (a gap in time, no sample
            # lost). A step back within STEP_US (the first sync of a nearly right clock) is
            # spread like a slew: following it would date samples before the previous
            # frame's, and two samples of one device at one time are one InfluxDB point.
            # Only a clock that was more than STEP_US ahead is followed back at once.
            q = self.period_us >> 2
            d = t0 - nxt
            if not (stepped and (d > q or d < -STEP_US)):
                t0 = nxt + max(-q, min(q, d))
        if self.first_t0_us is None:
            self.first_t0_us = t0
        self._t0 = t0
        b = self.builder
        imu = self.imu
        b.begin(flags, self.boot_id, self.seq, t0, self.period_us, imu.acc_scale, imu.gyro_scale)
        b.quality = self._carry
        self._carry = 0

    def _finish(self):
        b = self.builder
        if b.quality & _RANGE_VIOLATION:
            self.range_violations += 1
        if b.quality & (_ACC_CLIPPED | _GYRO_CLIPPED):
            self.clipped_frames += 1
        self.ring.push(b.finish())
        self.last_sample_us = self._t0 + (b.n - 1) * self.period_us
        self._next_t0 = self.last_sample_us + self.period_us
        b.n = 0
        self.frames += 1
        self.seq = (self.seq + 1) & _MASK32
        if self.on_frame:
            self.on_frame()

    def _gap(self, bits):
        # samples are missing before the next one: frames hold consecutive samples only
        if self.builder.n:
            self._finish()
        self._next_t0 = None  # the next frame's time comes from the sample clock alone
        self._carry |= bits

    def _take(self, same):
        # the sample in self.counts (same: it repeats the previous one) into the frame
        b = self.builder
        if not b.n:
            self._begin()
        q = 0
        c = self.counts
        lo = self.lo
        hi = self.hi
        for j in range(6):
            v = c[j]
            if v >= _COUNT_MAX or v <= _COUNT_MIN:
                q |= _ACC_CLIPPED if j < 3 else _GYRO_CLIPPED
            if v < lo[j] or v > hi[j]:
                q |= _RANGE_VIOLATION
        if same:
            self._same += 1
            if self._same >= self.stuck_n:
                q |= _SENSOR_STUCK
                if self._same == self.stuck_n:
                    self.stuck_events += 1
        else:
            self._same = 1
        b.quality |= q
        off = self.off
        if off is None:
            b.add(c)
        else:
            o = self.body
            for j in range(6):
                v = c[j] - off[j]
                o[j] = _COUNT_MAX if v > _COUNT_MAX else _COUNT_MIN if v < _COUNT_MIN else v
            b.add(o)
        self.samples += 1
        self.k += 1
        if b.n == self.spf:
            self._finish()

    def _more(self):
        return not self.max_samples or self.samples < self.max_samples

    # -- faults ---------------------------------------------------------------------------
    def _bus_error(self):
        self.i2c_errors += 1
        self._errors_in_row += 1
        self._carry |= _SENSOR_ERROR
        if self.builder.n:
            self.builder.quality |= _SENSOR_ERROR

    def _resync(self, bits):
        # drop what the FIFO holds (misaligned or partly read) and carry on at the sensor's
        # count: the samples in between are lost, counted (at the next count read, which
        # dates the new FIFO content better than the reset's uncertain moment), and flagged
        self._gap(bits)
        self._pending = True
        self.imu.fifo_reset()

    def _skip_to(self, k, bits):
        if self.sclock.k0 is not None and k > self.k:
            self.lost += k - self.k
            self.k = k
        self._gap(bits)

    async def _recover(self):
        # the sensor is gone (or lost its configuration): report, then re-initialise it every
        # RETRY_MS until it answers; the sampler's time axis carries on from its count
        self.imu_lost += 1
        self.imu_ok = False
        self._gap(_SENSOR_ERROR | _OVERRUN)
        if self.on_fault:
            self.on_fault()
        while True:
            await asyncio.sleep_ms(RETRY_MS)
            try:
                self.imu.reinit(self.fifo)
                break
            except OSError:
                self.i2c_errors += 1
        self.imu_reinits += 1
        self.imu_ok = True
        self._errors_in_row = 0
        if self.fifo:
            self._pending = True  # placed at the first count of the restarted FIFO
        else:
            self._skip_to(self.sclock.count_at(time.ticks_us()), _SENSOR_ERROR | _OVERRUN)
        if self.on_fault:
            self.on_fault()

    def _anchor(self, t, count):
        if self.sclock.k0 is None:
            self._base_us = self.clock.raw_us()
        self.sclock.observe(t, count)

    # -- the loops ------------------------------------------------------------------------
    async def run(self):
        try:
            if self.fifo:
                await self._run_fifo()
            else:
                import poller  # only boards whose sensor has no FIFO load it

                await poller.run(self)
            if self.builder.n:
                self._finish()
        finally:
            self.done.set()

    async def _run_fifo(self):
        imu = self.imu
        buf = self._fbuf
        burst = self.burst
        try:
            imu.fifo_start()
        except OSError:  # gone already: found again (and its FIFO started) by _recover
            self._bus_error()
            await self._recover()
        wait = _BURST_MS
        last_data = time.ticks_ms()
        while self._more():
            await asyncio.sleep_ms(wait)
            wait = _BURST_MS
            try:
                n = imu.fifo_count()
                # the time after the count: a delay in between (preemption, a slow bus) can
                # only make the count look late, which the sample clock's filter discards
                t = time.ticks_us()
                if n < 0:
                    self.fifo_overflows += 1
                    self._resync(_OVERRUN)
                    continue
            except OSError:
                self._bus_error()  # nothing was popped: the samples wait in the FIFO
                if self._errors_in_row >= LOST_AFTER:
                    await self._recover()
                continue
            self._errors_in_row = 0
            avail = n // _SAMPLE_BYTES
            if avail:
                last_data = time.ticks_ms()
                if self._pending and self.sclock.k0 is not None:
                    # after a resync: the FIFO holds the newest `avail` samples
                    self._skip_to(self.sclock.count_at(t) - avail, 0)
                else:
                    self._anchor(t, self.k + avail)
                self._pending = False
            elif time.ticks_diff(time.ticks_ms(), last_data) > STALL_MS:
                await self._recover()  # no sample for too long: the sensor lost its setup
                last_data = time.ticks_ms()
                continue
            while avail >= burst and self._more():
                t = time.ticks_us()
                # Every bus transaction may fail (a loose connector): an escaping OSError
                # would end the sampler, so each one is inside a try.
                try:
                    imu.fifo_read(buf)
                    # it overflowed while being read: the burst may hold overwritten bytes
                    bits = _OVERRUN if imu.fifo_overflowed() else 0
                except OSError:
                    # a burst may fail part-way, or whether it overflowed is unknown: resync
                    self._bus_error()
                    bits = _SENSOR_ERROR | _OVERRUN
                if bits:
                    if bits == _OVERRUN:
                        self.fifo_overflows += 1
                    try:
                        self._resync(bits)
                    except OSError:
                        self._bus_error()
                    break
                i = 0
                while i < len(buf) and self._more():
                    self._take(decode(buf, i, self.counts))
                    i += _SAMPLE_BYTES
                avail -= burst
                self.busy_us += time.ticks_diff(time.ticks_us(), t)
            # sleep until about one burst is waiting; the dither spreads the wake-ups over
            # the sample period, so some observations fall just after a sample (SampleClock)
            self._dither = (self._dither + 1) & 7
            wait = (burst - avail) * self.period_us + (self._dither - 4) * self.period_us // 8
            wait = max(1, wait // 1000)
