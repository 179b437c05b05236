# Update mode (docs/protocol.md §3.5, docs/firmware.md "Firmware updates"). The app only
# saves a new offer and restarts (fwboot.take_offer); main.py then runs this instead of the
# app, with the heap to itself: the app at 100 kB leaves too little to stage beside it. The
# offer is verified (HMAC with the device's key over the bytes received, an offer number
# newer than the last taken); the manifest it names and then each file are streamed over
# HTTP in small chunks into the slot the running release does not use, each checked
# against its size and sha256 as it comes; the manifest is renamed into place last. The swap
# is one rename of fwboot's state file; the device restarts into the new release on
# probation (fwapp.py). Every step is in the status's "ota" object.
import asyncio
import gc
import hashlib
import json
import os
import struct
import sys
from binascii import hexlify, unhexlify

import fwboot
import sign

_CHUNK = 256  # bytes read from the socket at a time: the release never is in RAM
_READ_MS = 10000  # a download that stalls this long fails
_CONNECT_MS = 10000  # waited for the broker before the work starts, so the steps are seen
_wdt = None


class Rejected(Exception):
    # args: (reason, final): a final refusal marks the offer taken; else the retained
    # offer is tried again at the next connect
    pass


class _Device:
    # what the reports need: cfg, fw (fwboot's state), uplink, status
    pass


async def main():
    import safemode
    from clock import Clock, iso
    from ring import Ring
    from uplink import Uplink

    global _wdt
    if sys.platform == "esp32":
        from machine import WDT

        _wdt = WDT(timeout=60000)
    d = _Device()
    d.cfg = cfg = safemode._config()
    del sys.modules["safemode"]
    d.fw = st = fwboot.read()
    st.setdefault("state", "confirmed")
    clock = Clock()
    boot_id = struct.unpack("<I", os.urandom(4))[0]

    def status(state):
        # the uplink's status writer; update mode has the heap to itself: json.dumps is fine
        msg = {
            "device_id": cfg["device_id"],
            "state": "updating" if state == b"online" else state.decode(),
            "boot_id": boot_id,
            "timestamp": iso(clock.now_us(), False),
            "firmware_version": st.get("version"),  # the running release's
            "config_version": cfg["config_version"],
            "ota": st.get("report"),
        }
        return b"\0", (json.dumps(msg).encode(),)

    d.status = status
    d.uplink = up = Uplink(cfg, Ring(64, 2), clock, boot_id, status)
    up._out = bytearray(1024)  # room for every field of the report (the heap is ours)
    up._out_mv = memoryview(up._out)
    up.start()
    t = 0
    while not up.connected and t < _CONNECT_MS:
        await asyncio.sleep_ms(50)
        t += 50
    with open(fwboot.OFFER_FILE, "rb") as f:
        payload = f.read()
    # refused until it succeeds: an offer that crashes update mode is not taken again
    fwboot.refuse(st, payload)
    fwboot.write(st)
    os.remove(fwboot.OFFER_FILE)
    await _offer(d, payload)
    await up.stop(b"rebooting", 5000)
    import crashes

    crashes.healthy()  # a deliberate restart is no crash
    crashes.reset()


def _report(d, n, version, state, error=None, heap=None):
    # the status's "ota" object, kept in fw.json (so it outlives the restart) and sent now
    d.fw["report"] = {"n": n, "version": version, "state": state, "error": error}
    if heap is not None:
        d.fw["report"]["heap_min_free"] = heap
    fwboot.write(d.fw)
    d.uplink.send_status(b"online")


def _verify(d, payload):
    # the offer as a dict, or Rejected
    try:
        msg = json.loads(payload)
        text = msg["offer"]
        sig = msg["sig"]
    except (ValueError, KeyError, TypeError):
        raise Rejected("bad_payload", False) from None
    key = d.cfg["device_key"]
    if not key:
        raise Rejected("no_device_key", False)
    if not isinstance(text, str) or not sign.verify(unhexlify(key), ("ota\n", text), sig):
        raise Rejected("bad_signature", False)
    try:
        offer = json.loads(text)
        ok = isinstance(offer["url"], str) and isinstance(offer["version"], str)
        for k in ("n", "confirm_s", "deadline_s"):
            ok = ok and isinstance(offer[k], int)
        ok = ok and isinstance(offer["manifest"], list) and len(offer["manifest"]) == 2
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise Rejected("bad_payload", False)
    return offer


async def _offer(d, payload):
    st = d.fw
    try:
        offer = _verify(d, payload)
    except Rejected as e:
        _report(d, None, None, "rejected", e.args[0])
        return
    payload = None
    n = offer["n"]
    version = offer["version"]
    if n <= st.get("offer", 0):
        _report(d, n, version, "rejected", "stale_offer")
        return
    st["offer"] = n  # taken: a replay of this offer or an older one is refused
    if version == st.get("version"):
        _report(d, n, version, "current")
        return
    if st["state"] == "trial":
        _report(d, n, version, "rejected", "on_probation")  # the slot to roll back to is busy
        return
    slot = fwboot.SLOTS[1] if st.get("slot") == fwboot.SLOTS[0] else fwboot.SLOTS[0]
    _report(d, n, version, "downloading")
    d.ota_min_free = None
    try:
        await _download(d, offer, slot)
    except Rejected as e:
        _report(d, n, version, "rejected", e.args[0])
        return
    except (OSError, MemoryError) as e:
        gc.collect()
        _report(d, n, version, "rejected", "download_failed: " + repr(e))
        return
    # the swap: one rename of the state file. The next boot runs the new release on
    # probation; fwboot keeps what ran before to roll back to.
    st["prev"] = [st.get("slot"), st.get("version")]
    st["slot"] = slot
    st["version"] = version
    st["state"] = "trial"
    st["boots"] = 0
    st["confirm_s"] = offer["confirm_s"]
    st["deadline_s"] = offer["deadline_s"]
    st.pop("refused", None)
    # with the free heap in the middle of the download, everything it holds live
    _report(d, n, version, "staged", None, d.ota_min_free)
    print("ota: staged", version, "in", slot)


def _clear(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        sub = path + "/" + e[0]
        if e[1] == 0x4000:  # a directory
            _clear(sub)
            os.rmdir(sub)
        else:
            os.remove(sub)


def _mkdirs(path):
    at = ""
    for part in path.split("/"):
        at = at + "/" + part if at else part
        try:
            os.mkdir(at)
        except OSError:
            pass  # exists


async def _download(d, offer, slot):
    url = offer["url"]
    if not url.startswith("http://"):
        raise Rejected("bad_url", True)
    host, _, path = url[7:].partition("/")
    host, _, port = host.partition(":")
    port = int(port or 80)
    path = "/" + path
    # the slot is not in use: emptied first, its manifest renamed into place last, so a
    # slot with a manifest is always complete (and fwboot checks it again at first boot)
    _clear(slot)
    _mkdirs(slot)
    buf = bytearray(_CHUNK)
    part = slot + "/manifest.part"
    size, digest = offer["manifest"]
    await _fetch(d, host, port, path, fwboot.MANIFEST, part, size, digest, buf)
    with open(part) as m:
        if m.readline().split()[1] != offer["version"]:
            raise Rejected("manifest: another version", True)
        while True:
            line = m.readline()  # one file at a time: the manifest is never whole in RAM
            if not line:
                break
            digest, size, name = line.split()
            if "/" in name:
                _mkdirs(slot + "/" + name.rsplit("/", 1)[0])
            await _fetch(d, host, port, path, name, slot + "/" + name, int(size), digest, buf)
            line = digest = name = None
            gc.collect()
            _feed()
    os.rename(part, slot + "/" + fwboot.MANIFEST)


async def _fetch(d, host, port, path, name, dest, size, digest, buf):
    # GET path+name into dest, checked against its size and sha256 as it streams
    r, w = await asyncio.wait_for_ms(asyncio.open_connection(host, port), _READ_MS)
    try:
        w.write(("GET %s%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, name, host)).encode())
        await w.drain()
        line = await asyncio.wait_for_ms(r.readline(), _READ_MS)
        parts = line.split()
        if len(parts) < 2 or parts[1] != b"200":
            raise OSError("HTTP %s for %s" % (line[:40], name))
        length = None
        while True:
            h = await asyncio.wait_for_ms(r.readline(), _READ_MS)
            if h in (b"\r\n", b"\n", b""):
                break
            if h[:15].lower() == b"content-length:":
                length = int(h[15:])
        if length != size:
            raise Rejected("size: " + name, True)
        sha = hashlib.sha256()
        mv = memoryview(buf)
        left = size
        with open(dest, "wb") as f:
            while left:
                n = await asyncio.wait_for_ms(r.readinto(mv[: min(left, len(buf))]), _READ_MS)
                if not n:
                    raise OSError("connection closed with %d bytes to come" % left)
                sha.update(mv[:n])
                f.write(mv[:n])
                if left == size:
                    _heap(d)  # everything a download holds is live here
                left -= n
        if hexlify(sha.digest()).decode() != digest:
            raise Rejected("digest: " + name, True)
    finally:
        w.close()


def _heap(d):
    gc.collect()
    free = gc.mem_free()
    if d.ota_min_free is None or free < d.ota_min_free:
        d.ota_min_free = free


def _feed():
    # an ESP32's watchdog resets a download that hangs (each read also has a timeout)
    if _wdt is not None:
        _wdt.feed()
