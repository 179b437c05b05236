# Remote configuration on the device (docs/protocol.md §3.3, §3.4): desired.py has verified
# a desired config (signature, version) and rules.py checked its fields, and both have been
# unloaded; here it is applied live, persisted atomically, and reported. A failure part way
# puts the last good config back. config.py reads the persisted file at boot.
import asyncio
import json
import os

from clock import iso
from drivers.mpu6050 import decode
from sampler import Sampler

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
