# Remote configuration on the device (docs/protocol.md §3.3, §3.4): desired.py has verified
# a desired config (signature, version) and rules.py checked its fields, and both have been
# unloaded; here it is applied live, persisted atomically, and reported. A failure part way
# puts the last good config back. config.py reads the persisted file at boot.
import asyncio
import json
import os
from array import array

import frame
from clock import SampleClock, iso
from drivers.mpu6050 import decode
from micropython import const
from sampler import Sampler

_COUNT_MAX = const(32767)  # = sampler's: const() does not cross modules
_COUNT_MIN = const(-32768)
_SAMPLE_BYTES = const(12)
_BURST_MS = const(50)
# a list: the strings of a constant tuple would each be a heap object, a list's are qstrs
_CH = ["ax", "ay", "az", "gx", "gy", "gz"]

CONFIG_FILE = "config.json"  # = config.CONFIG_FILE
# sampler state that outlives a config change: the frame sequence and the counters
_CARRIED = (
    "seq",
    "samples",
    "frames",
    "first_t0_us",
    "last_sample_us",
    "lost",
    "fifo_overflows",
    "i2c_errors",
    "imu_lost",
    "imu_reinits",
    "stuck_events",
    "clipped_frames",
    "range_violations",
    "busy_us",
)


def persist(version, values, path=CONFIG_FILE):
    # temp file, then rename: a power cut leaves the old file or the new one, never half
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"version": version, "config": values}, f)
    os.rename(tmp, path)


def report(app, status, error, desired, remote):
    # config/reported (retained): what runs now, and what became of the desired version;
    # remote: the remote fields (rules.REMOTE, kept by the caller past the rules' unload)
    cfg = app.cfg
    msg = {
        "device_id": cfg["device_id"],
        "version": cfg["config_version"],
        "status": status,
        "error": error,
        "desired_version": desired,
        "timestamp": iso(app.clock.now_us()),
        "config": {k: cfg[k] for k in remote},
    }
    up = app.uplink
    up.send_json(up.topic_reported, json.dumps(msg), True)  # the next status has the version


async def apply(app, version, values, undo, remote):
    # checked (rules.check_desired, cfg holds the values): live, then persisted, reported
    cfg = app.cfg
    try:
        await _restart_sampler(app)
        app.note_free()  # this module loaded, the sampler set up again
        persist(version, values)
    except Exception as e:  # noqa: BLE001 - whatever failed part way: back to the last good
        print("devconfig: version", version, "failed, rolling back:", repr(e))
        cfg.update(undo)
        await _restart_sampler(app)
        report(app, "rejected", "apply_failed: " + repr(e), version, remote)
        return
    app.note_free()  # persisted
    report(app, "applied", None, version, remote)


def _drain(s, imu):
    # the samples the sensor took that wait in its FIFO go into frames before the sensor is
    # reset: a change of config loses none of them
    buf = memoryview(s._fbuf)
    one = buf[:12]
    n = imu.fifo_count() // 12
    while n > 0 and s._more():
        part = buf if n >= s.burst else one
        imu.fifo_read(part)
        for i in range(0, len(part), 12):
            s._take(decode(part, i, s.counts))
        n -= len(part) // 12


async def _restart_sampler(app):
    # Live: the sampler stops between two bursts, the FIFO is drained into frames, the
    # partial frame goes out as it is, and the sampler is set up again with the new rate and
    # ranges, continuing the same seq: no sample is lost, and the first frame after the
    # change carries the new header.
    s = app.sampler
    task = app.tasks[0]
    if not task.done():
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    if s.fifo and s.imu_ok:
        try:
            _drain(s, app.imu)
        except OSError:
            s.i2c_errors += 1  # what stayed in the FIFO is lost with the reset below
    if s.builder.n:
        s._finish()
    cfg = app.cfg
    app.imu.configure(cfg["rate_hz"], cfg["acc_range_g"], cfg["gyro_range_dps"])
    carried = [getattr(s, name) for name in _CARRIED]
    # the same object set up again: a new one needs blocks a fragmented heap may not have
    Sampler.__init__(
        s, app.imu, app.ring, app.clock, app.boot_id, cfg, s.fifo, s.on_frame, s.on_fault, s.builder
    )
    for i in range(len(_CARRIED)):
        setattr(s, _CARRIED[i], carried[i])
    app.tasks[0] = asyncio.create_task(s.run())


def _count_limit(value, scale):
    c = int(value / scale)
    return max(_COUNT_MIN, min(_COUNT_MAX, c))


def setup_sampler(s, imu, ring, clock, boot_id, cfg, fifo, on_frame, on_fault, builder):
    # Sampler.__init__ (sampler.py), here because a config change loads this module anyway
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
