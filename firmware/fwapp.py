# The app's side of firmware updates (docs/firmware.md "Firmware updates"), loaded by the
# app only while needed (resident, its code would cost the app's heap): reading fwboot's
# state at the first tick after a boot that has one, an offer (saved, then a restart into
# update mode, ota.py, which has the heap to itself: staging beside the running app does
# not fit a 100 kB heap), and a new release on probation (confirmed after confirm_s of
# healthy running: connected, the IMU answering, frames acknowledged in the second half of
# it; rolled back past deadline_s; a release that crashes first is rolled back by fwboot).
import asyncio
import gc
import hashlib
import json
import os
import sys
import time
from binascii import hexlify

import fwboot
from micropython import const

_OUT_BYTES = const(832)


def _write(path, data):
    # temp file, then rename: a power cut leaves the old file or the new one, never half
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


async def step(app):
    # app.fw: None until read here; the whole state while a release is on probation ("state"
    # in it), else only what tells a new offer from one handled before
    if app.fw is None:
        st = fwboot.read()
        st.pop("half", None)  # this boot's acknowledgements count, not an earlier one's
        changed(app, st.get("report"))
        app.fw = st if st.get("state") == "trial" else _seen(st)
    trial = "state" in app.fw
    if app.offer is not None and not trial:
        payload = app.offer
        app.offer = None
        await offer(app, payload)
    if trial:
        await _trial(app)


def _seen(st):
    return {"offer": st.get("offer", 0), "refused": st.get("refused")}


def changed(app, report):
    # the status's "ota" object, written once per change, not per report; the fields that
    # fit the uplink's status buffer (update mode's status has them all). A device never
    # updated keeps the uplink's buffer as it is; one with a report needs room for it (the
    # longest status, 650 bytes, and this object, at most 182): compose.py gives it from
    # boot where fw.json exists, this is for a report made on this boot
    out = b"null"
    up = app.uplink
    if report and len(up._out) < _OUT_BYTES:
        up._out = bytearray(_OUT_BYTES)
        up._out_mv = memoryview(up._out)
    if report:
        out = {k: report.get(k) for k in ("n", "version", "state", "gap_ms")}
        out["error"] = report.get("error") and report["error"][:64]
        out = json.dumps(out).encode()
    app._status_vals[23] = out


def _send(app, report):
    try:
        changed(app, report)
    except MemoryError:
        pass  # the status carries the report before this one until the next change
    app.uplink.send_status(b"online")


def save(seen, payload):
    # True if the offer was saved for update mode. Only its number is read here, unverified
    # (update mode verifies); the retained copy of an offer handled before (taken, or
    # refused for good: fwboot.refuse) is not saved again. seen: fwboot's state, or the
    # part of it _seen() keeps.
    try:
        n = json.loads(json.loads(payload)["offer"])["n"]
    except (ValueError, KeyError, TypeError):
        n = None  # update mode words the rejection
    key = hexlify(hashlib.sha256(payload).digest()[:8]).decode()  # = fwboot.refuse's
    if (n is not None and n <= seen.get("offer", 0)) or key == seen.get("refused"):
        return False
    _write(fwboot.OFFER_FILE, payload)
    return True


async def offer(app, payload):
    if save(app.fw, payload):
        await restart(app, "firmware offer: restarting into update mode")


async def restart(app, why):
    # A deliberate restart: the sampler stops, the frame in progress is closed, every frame
    # goes out, and the time of the last sample is kept, so that the next boot reports the
    # gap; then the final status and summary, and a reset.
    app.tasks[0].cancel()
    try:
        await app.tasks[0]
    except asyncio.CancelledError:
        pass
    s = app.sampler
    if s.builder.n:
        s._finish()
    await app.uplink.flush(10000)
    gc.collect()
    st = fwboot.read()
    st.setdefault("state", "confirmed")
    if not st.get("version"):  # the deployed files: update mode learns their version here
        st["version"] = sys.modules["app"].FIRMWARE_VERSION
    st["stopped_us"] = s.last_sample_us
    st["unacked"] = len(app.ring)  # frames the restart loses (none if the link held)
    fwboot.write(st)
    st = None
    print("app:", why)
    await app.uplink.stop(b"rebooting", 5000)
    app.ring.release()  # the run is over: the slots' RAM goes, the counters stay
    gc.collect()
    import summary

    # streamed, not one string: a fragmented heap may hold no ~700-byte block (seen in CI)
    json.dump({"summary": summary.of(app)}, sys.stdout)
    print()
    import crashes

    crashes.healthy()  # a deliberate restart is no crash
    crashes.reset()


async def _trial(app):
    st = app.fw
    rep = st["report"]
    s = app.sampler
    if rep["state"] == "staged" and s.first_t0_us is not None:
        # the samples not taken from the last one before the restart to the first now
        stopped = st.get("stopped_us")
        rep["gap_ms"] = (s.first_t0_us - stopped) // 1000 if stopped else None
        rep["unacked"] = st.get("unacked")
        rep["state"] = "trial"
        fwboot.write(st)
        _send(app, rep)
    up_s = time.ticks_diff(time.ticks_ms(), app.started_ms) // 1000
    if st.get("half") is None and up_s >= st["confirm_s"] // 2:
        st["half"] = app.ring.acked  # frames must keep being acknowledged after this
    healthy = (
        app.uplink.connected
        and s.imu_ok
        and st.get("half") is not None
        and app.ring.acked > st["half"]
    )
    if rep["state"] == "trial" and up_s >= st["confirm_s"] and healthy:
        st["state"] = rep["state"] = "confirmed"
        fwboot.write(st)
        app.fw = {"offer": st.get("offer", 0), "refused": st.get("refused")}
        import crashes

        crashes.healthy()
        del sys.modules["crashes"]
        _send(app, rep)
        print("probation: confirmed", st["version"])
    elif up_s >= st["deadline_s"]:
        why = "not confirmed in %d s" % st["deadline_s"]
        fwboot.rollback(st, why)
        await restart(app, "probation: " + why + ", rolled back")
