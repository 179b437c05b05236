# Crash counting and safe mode. main.py counts every boot in CRASH_FILE before the app
# starts; the app clears the count once it runs healthy (30 s with frames acknowledged) or
# ends a bounded run cleanly. After LIMIT boots in a row that never got
# there, main.py runs this minimal mode instead of the app: no sensors, no sampling. It
# connects, reports state "safe_mode" with the reason, and takes a signed config
# (verified, checked, persisted, reported); then it restarts to try the app again, with
# one crash left before it comes back here. It takes a firmware offer too: saved, then a
# restart into update mode (ota.py).
import asyncio
import json
import os
import struct
import sys

# the counting lives in crashes.py (the app loads only that); main.py reaches it here
from crashes import CRASH_FILE, LIMIT, _write, booted, crashed, healthy, read, reset  # noqa: F401


class _Device:
    # what devconfig.report needs of the app: cfg, clock, uplink
    pass


def _config():
    # device.json and the last applied config, unchecked: a bad value may be why we are here
    import config

    with open(config.DEVICE_FILE) as f:
        values = json.load(f)
    cfg = dict(config.DEFAULTS)
    cfg.update(values)
    try:
        with open(config.CONFIG_FILE) as f:
            cfg["config_version"] = json.load(f)["version"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    del sys.modules["config"]
    return cfg


async def _offer(up, payload):
    # saved for update mode (ota.py), which main.py runs at the next boot, before safe mode
    import fwapp
    import fwboot

    st = fwboot.read()
    if payload and fwapp.save(st, payload):
        fwboot.write(st)  # main.py looks for update mode only where this file exists
        await up.stop(b"rebooting", 3000)
        reset()


async def main(crashes, reason):
    from binascii import unhexlify

    from clock import Clock, iso
    from ring import Ring
    from uplink import Uplink

    d = _Device()
    d.cfg = cfg = _config()
    d.clock = Clock()
    boot_id = struct.unpack("<I", os.urandom(4))[0]
    why = "%d crashes in a row; last: %s" % (crashes, reason)
    print("safemode:", why)

    def status(state):
        # the uplink's status writer; safe mode has the heap to itself: json.dumps is fine
        msg = {
            "device_id": cfg["device_id"],
            "state": "safe_mode" if state == b"online" else state.decode(),
            "reason": why,
            "boot_id": boot_id,
            "timestamp": iso(d.clock.now_us(), False),
            "config_version": cfg["config_version"],
        }
        return b"\0", (json.dumps(msg).encode(),)

    d.uplink = up = Uplink(cfg, Ring(64, 2), d.clock, boot_id, status)
    desired_msgs = []
    offers = []  # firmware offers: a new release may be the repair
    up.on_command = lambda t, payload: (desired_msgs if t == up.commands[0] else offers).append(
        payload
    )
    up.start()
    key = unhexlify(cfg["device_key"]) if cfg["device_key"] else None
    while True:
        await asyncio.sleep_ms(250)
        if offers:
            await _offer(up, offers.pop())
        if not desired_msgs:
            continue
        import desired
        import devconfig

        try:
            checked = desired.check(cfg, key, desired_msgs.pop(), 200)
        except desired.Rejected as e:
            devconfig.report(d, "rejected", e.args[0], e.args[1], desired.remote())
            continue
        remote = desired.remote()
        if checked is None:
            continue
        devconfig.persist(checked[0], checked[1])
        devconfig.report(d, "applied", None, checked[0], remote)
        await asyncio.sleep_ms(1000)  # the report goes out before the restart
        _write(LIMIT - 1, reason)
        await up.stop(b"rebooting", 3000)
        reset()
