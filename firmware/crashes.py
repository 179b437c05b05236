# Crash counting (docs/firmware.md, "Crash counting and safe mode"): main.py counts every
# boot in CRASH_FILE before the app starts; the app clears the count once it runs healthy.
# A module of its own, so that the app loads only this (not safe mode) to clear the count.
import json
import os
import sys

LIMIT = 3
CRASH_FILE = "crashes.json"


def _write(count, reason):
    tmp = CRASH_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"count": count, "reason": reason}, f)
    os.rename(tmp, CRASH_FILE)


def read():
    try:
        with open(CRASH_FILE) as f:
            saved = json.load(f)
        return int(saved["count"]), str(saved["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, ""


def booted():
    # this boot counts as failed until the app says it is healthy
    count, reason = read()
    _write(count + 1, reason)
    return count, reason


def crashed(reason):
    _write(read()[0], reason)


def healthy():
    if read()[0]:
        _write(0, "")


def reset():
    # an ESP32 in the field restarts itself; on the unix port the exit code tells the runner
    if sys.platform == "esp32":
        import time

        import machine

        time.sleep(5)
        machine.reset()
    sys.exit(1)
