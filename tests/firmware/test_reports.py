"""Status and env reports are written into the uplink's held buffer (uplink.fill) under the
real MicroPython: valid JSON, nothing allocated while writing, and a report longer than the
buffer raises instead of growing it (the uplink then counts it as skipped)."""

from __future__ import annotations

import json

from tests.firmware.helpers import run_mpy

FILL = """
import json, micropython
from uplink import fill
buf = bytearray(%(size)d)
template = b'{"device_id":"\\0","boot_id":\\0,"err":\\0,"zero":\\0,"t_us":\\0,"imu":"\\0"}'
values = [b"gl-0001", 4294967295, -1500, 0, 1796087192384260, b"ok"]
res = [None, 0]

def write():
    res[0] = fill(buf, template, values)

micropython.heap_lock()
try:
    write()
except MemoryError:
    res[1] = 1
micropython.heap_unlock()
n = res[0]
out = {"allocated": res[1], "text": bytes(buf[:n]).decode() if n else None}
try:
    fill(bytearray(20), template, values)
except IndexError:
    out["overflow"] = "IndexError"
print(json.dumps(out))
"""


def test_fill__writes_json_without_allocating(fw_build):
    (got,) = run_mpy(fw_build, FILL % {"size": 704})
    assert got["allocated"] == 0, "fill() allocated while writing a report"
    assert json.loads(got["text"]) == {
        "device_id": "gl-0001",
        "boot_id": 4294967295,
        "err": -1500,
        "zero": 0,
        "t_us": 1796087192384260,
        "imu": "ok",
    }
    assert got["overflow"] == "IndexError"  # a 20-byte buffer is never grown


def test_status_report__longest_fits_the_held_buffer(fw_build):
    # the status template with a 32-character id and every counter at 10 digits (or a
    # negative clock error) fits the uplink's buffer: a real status is never skipped
    code = """
import json
import app, uplink
buf = bytearray(uplink.OUT_BYTES)
v = [b"a" * 32, 4294967295, b"offline", b"2026-12-01T00:00:00Z"] + [9999999999] * 19
v[-1] = -999999999
v.append(b"null")  # a device never updated (fwapp.changed gives an updated one more room)
n = uplink.fill(buf, app._STATUS, v)
print(json.dumps({"n": n, "size": len(buf), "text": bytes(buf[:n]).decode()}))
"""
    (got,) = run_mpy(fw_build, code)
    status = json.loads(got["text"])
    assert status["device_id"] == "a" * 32 and status["faults"]["samples_lost"] == 9999999999
    assert status["clock"]["last_error_us"] == -999999999
    assert status["ota"] is None
    assert got["n"] <= got["size"]
