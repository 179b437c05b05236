# Remote configuration on the device (docs/protocol.md §3.3, §3.4): a desired config is
# verified over the bytes received (HMAC with the device's key), must be newer than the
# running one, and is checked field by field before anything changes; then it is applied
# live, persisted atomically, and reported. A failure part way puts the last good config
# back. config.py reads the persisted file at boot.
import asyncio
import gc
import json
import os
from binascii import unhexlify

import rules
import sign
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


class Rejected(Exception):
    # args: (reason, desired version or None when the payload did not say)
    pass


def _unpack(payload):
    try:
        msg = json.loads(payload)
        version = msg["version"]
        text = msg["config"]
        sig = msg["sig"]
    except (ValueError, KeyError, TypeError):
        raise Rejected("bad_payload", None) from None
    if not isinstance(text, str) or not isinstance(sig, str):
        raise Rejected("bad_payload", None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Rejected("bad_payload", None)
    return version, text, sig


def check(cfg, key, payload, max_spf):
    # None if this version already runs; else applies the values to cfg in place and
    # returns (version, values, undo) where undo puts cfg back. Raises Rejected with cfg
    # unchanged. In place, because a copy of cfg is a block a fragmented heap may not have.
    version, text, sig = _unpack(payload)
    if key is None:
        raise Rejected("no_device_key", version)
    if not sign.verify(key, (str(version) + "\n" + text).encode(), sig):
        raise Rejected("bad_signature", version)
    if version == cfg["config_version"]:
        return None  # the retained copy, delivered again at each connect
    if version < cfg["config_version"]:
        raise Rejected("stale_version", version)
    try:
        values = json.loads(text)
    except ValueError:
        raise Rejected("invalid: config: not JSON", version) from None
    if not isinstance(values, dict):
        raise Rejected("invalid: config: object required", version)
    for k in values:
        if k not in rules.REMOTE:
            raise Rejected("invalid: " + str(k) + ": unknown field", version)
    undo = {"config_version": cfg["config_version"]}
    for k in values:
        undo[k] = cfg[k]
    cfg.update(values)
    cfg["config_version"] = version
    try:
        rules.check_remote(cfg)
        if cfg["samples_per_frame"] > max_spf:
            # the ring's slots were sized at boot; a bigger frame needs a reboot first
            rules.bad("samples_per_frame", "at most %d on this boot" % max_spf)
    except ValueError as e:
        cfg.update(undo)
        raise Rejected("invalid: " + str(e), version) from None
    return version, values, undo


def persist(version, values, path=CONFIG_FILE):
    # temp file, then rename: a power cut leaves the old file or the new one, never half
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"version": version, "config": values}, f)
    os.rename(tmp, path)


def report(app, status, error, desired):
    # config/reported (retained): what runs now, and what became of the desired version
    cfg = app.cfg
    msg = {
        "device_id": cfg["device_id"],
        "version": cfg["config_version"],
        "status": status,
        "error": error,
        "desired_version": desired,
        "timestamp": iso(app.clock.now_us()),
        "config": {k: cfg[k] for k in rules.REMOTE},
    }
    up = app.uplink
    up.send_json(up.topic_reported, json.dumps(msg), True)  # the next status has the version


async def handle(app):
    # the newest desired payload the uplink handed the app: check, apply, persist, report
    payload = app.desired
    app.desired = None
    gc.collect()
    cfg = app.cfg
    key = unhexlify(cfg["device_key"]) if cfg["device_key"] else None
    try:
        checked = check(cfg, key, payload, app.max_spf)
    except Rejected as e:
        report(app, "rejected", e.args[0], e.args[1])
        return
    payload = None
    if checked is None:
        return
    version, values, undo = checked
    try:
        await _restart_sampler(app)
        persist(version, values)
    except Exception as e:  # noqa: BLE001 - whatever failed part way: back to the last good
        print("devconfig: version", version, "failed, rolling back:", repr(e))
        cfg.update(undo)
        await _restart_sampler(app)
        report(app, "rejected", "apply_failed: " + repr(e), version)
        return
    gc.collect()
    free = gc.mem_free()  # the heap while a config is applied, its handler loaded
    app.apply_min_free = free if app.apply_min_free is None else min(free, app.apply_min_free)
    report(app, "applied", None, version)


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
