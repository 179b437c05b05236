"""The firmware frame encoder, run under MicroPython, against the golden vectors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.firmware.helpers import GOLDEN, decode_frame, encode_frame, run_mpy

VALID = json.loads((GOLDEN / "imu_frames_v1.json").read_text())
INVALID = json.loads((GOLDEN / "imu_frames_v1_invalid.json").read_text())
REASONS = {"short", "bad_magic", "bad_version", "bad_crc", "bad_length", "bad_header"}

ENCODE = """
import json, binascii, frame
for v in json.load(open(%r)):
    f = v["fields"]
    b = frame.FrameBuilder(f["n_samples"])
    b.begin(f["flags"], f["boot_id"], f["seq"], f["t0_us"], f["period_us"], f["acc_scale"],
            f["gyro_scale"])
    for s in v["samples"]:
        b.add(s)
    b.quality = f["quality"]
    print(json.dumps({"name": v["name"], "hex": binascii.hexlify(b.finish()).decode()}))
"""


def test_golden_vectors__cover_the_contract():
    fields = [v["fields"] for v in VALID]
    assert {f["n_samples"] for f in fields} >= {1, 50, 200}
    assert any(f["seq"] == 0xFFFFFFFF for f in fields)
    assert any(f["flags"] == 0x03 for f in fields) and any(f["quality"] == 0x1F for f in fields)
    flat = [c for v in VALID for s in v["samples"] for c in s]
    assert -32768 in flat and 32767 in flat
    assert {v["reason"] for v in INVALID} == REASONS


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_golden_vectors__decode_to_their_fields(vector):
    # the vectors agree with themselves (and with the independent test decoder)
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    f = vector["fields"]
    assert frame["samples"] == vector["samples"]
    for key in (
        "flags",
        "boot_id",
        "seq",
        "t0_us",
        "period_us",
        "quality",
        "acc_scale",
        "gyro_scale",
    ):
        assert frame[key] == f[key], key
    assert frame["n"] == f["n_samples"]


def test_firmware_encoder__reproduces_every_golden_vector(fw_build):
    out = run_mpy(fw_build, ENCODE % str(GOLDEN / "imu_frames_v1.json"))
    assert [o["name"] for o in out] == [v["name"] for v in VALID]
    for got, want in zip(out, VALID, strict=True):
        assert got["hex"] == want["hex"], want["name"]


def test_firmware_resent_flag__re_signs_the_crc(fw_build):
    v = VALID[0]
    code = (
        ENCODE % str(GOLDEN / "imu_frames_v1.json")
        + """
b = frame.FrameBuilder(2)
b.begin(0, 1, 2, 3, 10000, 0.5, 0.25)
b.add((1, 2, 3, 4, 5, 6))
mv = b.finish()
frame.set_flag(mv, frame.RESENT)
print(json.dumps(["resent", binascii.hexlify(mv).decode()]))
"""
    )
    out = run_mpy(fw_build, code)
    resent = bytes.fromhex(out[-1][1])
    frame = decode_frame(resent)  # CRC still valid
    assert frame["flags"] == 0x02 and frame["samples"] == [[1, 2, 3, 4, 5, 6]]
    assert v["name"] == out[0]["name"]


@pytest.mark.parametrize(
    "offsets",
    ["", ', "acc_offset": [0.5, 0, -0.5], "gyro_offset": [0, 0.01, 0]'],
    ids=["raw", "calibrated"],
)
def test_hot_path__does_not_allocate(fw_build, offsets):
    # heap_lock makes any allocation raise MemoryError: the per-sample path (FIFO burst read,
    # decode, clip/range/stuck checks, calibration offsets, frame add) must run with the
    # heap locked
    code = """
import json, micropython
from clock import Clock
from drivers.mpu6050 import MPU6050, decode
from ring import Ring
from sampler import Sampler
import frame

class Bus:
    # answers WHO_AM_I and serves FIFO bytes from a fixed pattern, without allocating
    data = bytes(range(60))
    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x75:
            buf[0] = 0x68
            return
        d = self.data
        for i in range(len(buf)):
            buf[i] = d[i]
    def writeto_mem(self, addr, reg, buf):
        pass

imu = MPU6050(Bus(), 0x68)
imu.acc_scale, imu.gyro_scale = 0.1, 0.01
cfg = {"rate_hz": 100, "samples_per_frame": 100, "max_samples": 0, "stuck_samples": 3,
       "range_checks": {"gy": [-1.0, 1.0]}%s}
s = Sampler(imu, Ring(frame.size(100), 2), Clock(), 1, cfg)
buf = s._fbuf
s._anchor(0, 5)  # the sample clock's first observation: 5 samples in the FIFO
imu.fifo_read(buf)
s._take(decode(buf, 0, s.counts))  # begins the frame (per frame, may allocate)
res = ["?"]

def hot(n):
    for _ in range(n):
        imu.fifo_read(buf)
        i = 0
        while i < len(buf) and s._more():
            s._take(decode(buf, i, s.counts))
            i += 12

micropython.heap_lock()
try:
    hot(9)
    res[0] = "ok"
except MemoryError:
    res[0] = "allocated"
micropython.heap_unlock()
print(json.dumps({"hot": res[0], "n": s.builder.n, "burst": len(buf) // 12,
                  "last": list(s.counts), "quality": s.builder.quality}))
"""
    (out,) = run_mpy(fw_build, code % offsets)
    assert out["hot"] == "ok" and out["burst"] == 5 and out["n"] == 46
    assert out["last"] == [0x3031, 0x3233, 0x3435, 0x3637, 0x3839, 0x3A3B]
    # every burst repeats the same 5 samples: not stuck (consecutive ones differ); gy out of
    # range (with or without its 0.01 rad/s offset)
    assert out["quality"] == 0x04


_FIELDS = st.fixed_dictionaries(
    {
        "flags": st.integers(0, 3),
        "boot_id": st.integers(0, 2**32 - 1),
        "seq": st.integers(0, 2**32 - 1),
        "t0_us": st.integers(-(2**63), 2**63 - 1),
        "period_us": st.integers(1, 2**32 - 1),
        "acc_scale": st.floats(2**-20, 2**10, width=32),
        "gyro_scale": st.floats(2**-20, 2**10, width=32),
        "quality": st.integers(0, 0x1F),
    }
)
_SAMPLES = st.lists(st.lists(st.integers(-32768, 32767), min_size=6, max_size=6), min_size=1,
                    max_size=12)  # fmt: skip


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(_FIELDS, _SAMPLES), min_size=1, max_size=20))
def test_firmware_encoder__matches_an_independent_encoder(fw_build, cases):
    # one MicroPython process per example, each encoding a batch of random frames
    batch = [dict(fields, n_samples=len(samples), samples=samples) for fields, samples in cases]
    code = """
import json, binascii, frame
for f in json.loads(%r):
    b = frame.FrameBuilder(200)
    b.begin(f["flags"], f["boot_id"], f["seq"], f["t0_us"], f["period_us"], f["acc_scale"],
            f["gyro_scale"])
    for s in f["samples"]:
        b.add(s)
    b.quality = f["quality"]
    print(json.dumps([binascii.hexlify(b.finish()).decode()]))
"""
    out = run_mpy(fw_build, code % json.dumps(batch))
    assert [bytes.fromhex(o[0]) for o in out] == [encode_frame(f, f["samples"]) for f in batch]
