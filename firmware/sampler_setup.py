# The sampler's setup (Sampler.__init__), from the config: at boot, and again at a config
# change (devconfig.py). Loaded only then: in sampler.py this code would hold ~1 kB of heap
# for the whole run. The attributes of a Sampler are listed here.
import asyncio
from array import array

import frame
from clock import SampleClock
from micropython import const

_COUNT_MAX = const(32767)  # = sampler's: const() does not cross modules
_COUNT_MIN = const(-32768)
_SAMPLE_BYTES = const(12)
_BURST_MS = const(50)
# a list: the strings of a constant tuple would each be a heap object, a list's are qstrs
_CH = ["ax", "ay", "az", "gx", "gy", "gz"]


def _count_limit(value, scale):
    c = int(value / scale)
    return max(_COUNT_MIN, min(_COUNT_MAX, c))


def setup(s, imu, ring, clock, boot_id, cfg, fifo, on_frame, on_fault, builder):
    # Sampler.__init__ (sampler.py)
    s.imu = imu
    s.fifo = fifo
    s.on_frame = on_frame  # called after each finished frame (wakes the uplink)
    s.on_fault = on_fault  # called when the sensor is lost or back (status report)
    s.ring = ring
    s.clock = clock
    s.boot_id = boot_id
    s.period_us = 1000000 // cfg["rate_hz"]
    s.sclock = SampleClock(s.period_us)
    s.spf = cfg["samples_per_frame"]
    s.max_samples = cfg["max_samples"]
    s.stuck_n = cfg["stuck_samples"]
    # a live config change hands over the old builder: a fragmented heap may have no
    # block for a new one
    if builder is None or len(builder.buf) < frame.size(s.spf):
        builder = frame.FrameBuilder(s.spf)
    builder.n = 0
    s.builder = builder
    cap = imu.FIFO_BYTES // _SAMPLE_BYTES
    s.burst = max(1, min(cfg["rate_hz"] * _BURST_MS // 1000, cap // 4))
    s._fbuf = bytearray(s.burst * _SAMPLE_BYTES)
    s.counts = array("h", bytes(12))
    # calibration offsets in counts, subtracted from each sample before it is framed;
    # None when all are zero (the default): the sample path then does nothing more
    s.off = off = array("h", bytes(12))
    s.body = array("h", bytes(12))  # a sample minus the offsets
    acc = cfg.get("acc_offset") or (0, 0, 0)
    gyro = cfg.get("gyro_offset") or (0, 0, 0)
    for j in range(6):
        v = acc[j] / imu.acc_scale if j < 3 else gyro[j - 3] / imu.gyro_scale
        off[j] = max(_COUNT_MIN, min(_COUNT_MAX, round(v)))
    if not any(off):
        s.off = None
    # range checks in counts, on the corrected sample (so the raw limits move by the
    # offset); a channel without a check gets limits it can never cross
    s.lo = array("h", bytes(12))
    s.hi = array("h", bytes(12))
    checks = cfg["range_checks"]
    for j in range(6):
        scale = imu.acc_scale if j < 3 else imu.gyro_scale
        lim = checks.get(_CH[j])
        if lim:
            s.lo[j] = max(_COUNT_MIN, _count_limit(lim[0], scale) + off[j])
            s.hi[j] = min(_COUNT_MAX, _count_limit(lim[1], scale) + off[j])
        else:
            s.lo[j] = _COUNT_MIN
            s.hi[j] = _COUNT_MAX
    s.k = 0  # the sensor's index of the next sample to be framed
    s._base_us = 0  # epoch µs (RTC, before the beacon offset) at the sample clock's anchor
    s._carry = 0  # quality bits owed to the next frame
    s._same = 0  # identical samples in a row
    s._errors_in_row = 0
    s._pending = False  # after a resync: place the sample count at the next read
    s.imu_ok = True
    s.samples = 0
    s.frames = 0
    s.seq = 0
    s.first_t0_us = None
    s.last_sample_us = None  # time of the newest sample in a finished frame
    s._t0 = 0
    s._next_t0 = None  # t0 of a frame that follows the previous one without a gap
    s._dither = 0
    s._steps = 0  # clock steps already followed
    s.lost = 0  # samples the sensor took that never reached a frame
    s.fifo_overflows = 0
    s.i2c_errors = 0
    s.imu_lost = 0
    s.imu_reinits = 0
    s.stuck_events = 0
    s.clipped_frames = 0
    s.range_violations = 0  # frames with RANGE_VIOLATION
    s.busy_us = 0  # time spent reading and framing samples
    s.done = asyncio.Event()
