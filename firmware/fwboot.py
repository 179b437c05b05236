# The boot loader of firmware updates (docs/firmware.md, "Firmware updates"): picks the
# release to run before anything else is imported, and rolls a release on probation back
# by itself. It is never part of a release (nor is main.py): an update that broke it could
# not undo itself, so it changes only by a deploy over USB.
#
# FW_FILE says which release runs: {"slot": "fw/a" | "fw/b" | null (the deployed files),
# "version", "state": "confirmed" | "trial", "boots", "prev": [slot, version], "offer",
# "confirm_s", "deadline_s", "stopped_us", "report": the status's "ota" object}. It is the
# one commit point of an update: written whole to a temp file, then renamed, so a power cut
# leaves the old state or the new one. A slot is used only once its files are complete and
# verified, so either state names files that boot.
import hashlib
import json
import os
import sys
from binascii import hexlify

FW_FILE = "fw.json"
OFFER_FILE = "offer.json"  # an offer waiting for update mode (ota.py)
SLOTS = ("fw/a", "fw/b")
MANIFEST = "manifest.txt"  # complete and verified: written last
CRASH_FILE = "crashes.json"  # = crashes.CRASH_FILE
TRIAL_BOOTS = 2  # boots a new release gets to confirm itself; the next one rolls back


def read():
    try:
        with open(FW_FILE) as f:
            st = json.load(f)
        return st if isinstance(st, dict) else {}
    except (OSError, ValueError):
        return {}


def write(st):
    tmp = FW_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.rename(tmp, FW_FILE)


def file_digest(path, buf):
    # sha256 hex of a file, read through buf: never a whole file in RAM
    h = hashlib.sha256()
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return hexlify(h.digest()).decode()


def check_slot(slot):
    # None if every file of the slot's manifest is there with its sha256; else why not
    buf = bytearray(256)
    try:
        with open(slot + "/" + MANIFEST) as m:
            m.readline()  # "gaitlink-release VERSION"
            while True:
                line = m.readline()
                if not line:
                    break
                digest, size, name = line.split()
                path = slot + "/" + name
                if os.stat(path)[6] != int(size) or file_digest(path, buf) != digest:
                    return "slot_corrupt: " + name
    except (OSError, ValueError) as e:
        return "slot_corrupt: " + repr(e)
    return None


def rollback(st, why):
    # back to the release that ran before; the crashes were the new release's, not its
    prev = st.get("prev") or [None, None]
    st["report"] = {
        "n": st.get("offer"),
        "version": st.get("version"),
        "state": "rolled_back",
        "error": why,
    }
    st["slot"], st["version"] = prev[0], prev[1]
    st["state"] = "confirmed"
    st["boots"] = 0
    write(st)
    try:
        os.remove(CRASH_FILE)
    except OSError:
        pass


def _last_crash():
    try:
        with open(CRASH_FILE) as f:
            return str(json.load(f)["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def refuse(st, payload):
    # an offer that failed for good: its retained copy does not restart the device again
    # (fwapp.save compares the same key)
    st["refused"] = hexlify(hashlib.sha256(payload).digest()[:8]).decode()


def choose():
    # called by main.py first: the slot of the release to run goes first on sys.path;
    # "update" if an offer waits for update mode
    st = read()
    if st.get("state") == "trial":
        boots = st.get("boots", 0) + 1
        why = None
        if boots > TRIAL_BOOTS:
            # the reason first: a status keeps only the first 64 characters
            crash = _last_crash()
            why = ("crashed: " + crash) if crash else "not confirmed in %d boots" % TRIAL_BOOTS
        elif boots == 1:
            why = check_slot(st["slot"])  # flash that changed since staging
        if why:
            print("fwboot: rolling back", st.get("version"), "-", why)
            rollback(st, why)
        else:
            st["boots"] = boots
            write(st)
    slot = st.get("slot")
    if slot:
        sys.path.insert(0, slot)
    try:
        os.stat(OFFER_FILE)
        return "update"
    except OSError:
        return None
