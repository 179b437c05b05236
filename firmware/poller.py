# Poll mode of the sampler, for a sensor without a FIFO (`"fifo": false` in the board
# profile): the data registers are read when DATA_RDY says the sensor took a new sample.
# Reads are scheduled a little before the next sample is due and repeated (yielding) until
# it is there; a sample overwritten before it was read (reads more than 1.5 periods apart)
# is counted as missed and the next frame carries OVERRUN. No sample is written twice.
# Timestamps: the sample count from the read times, at the nominal period (the measured
# one once frames have been observed).
import asyncio
import time

from micropython import const
from sampler import LOST_AFTER

_OVERRUN = const(0x08)
_STALL_US = const(250000)


async def run(s):
    imu = s.imu
    period = s.period_us
    early = period - period // 8  # wake a little before the next sample is due
    c = s.counts
    last = None  # ticks_us of the last new sample
    due = time.ticks_us()
    while s._more():
        late = time.ticks_diff(time.ticks_us(), due)
        if late < 0:
            await asyncio.sleep_ms((-late) // 1000)  # 0 just yields: wait for DATA_RDY
            continue
        try:
            r = imu.read_new(c)
            t = time.ticks_us()  # after the read: the sample was taken before it returned
        except OSError:
            t = time.ticks_us()
            s._bus_error()
            if s._errors_in_row >= LOST_AFTER:
                await s._recover()
                last = None
            due = time.ticks_add(t, period // 4)
            continue
        s._errors_in_row = 0
        if not r:
            if last is not None and time.ticks_diff(t, last) > _STALL_US:
                await s._recover()
                last = None
            due = time.ticks_add(t, period // 8)
            continue
        if last is None:
            if s.sclock.k0 is None:
                s._anchor(t, 1)
            else:  # back after a recovery: the count the time says
                s._skip_to(s.sclock.count_at(t) - 1, 0)
        else:
            gap = time.ticks_diff(t, last)
            missed = (gap - period // 2) // period  # reads more than 1.5 periods apart
            if missed > 0:
                s._skip_to(s.k + missed, _OVERRUN)
        last = t
        s._take(r == 2)
        if not s.builder.n:
            s.sclock.observe(t, s.k)  # once a frame: keeps tick spans short
        s.busy_us += time.ticks_diff(time.ticks_us(), t)
        due = time.ticks_add(t, early)
