"""Drivers under MicroPython against the register-level simulator, checked in CPython
against the motion and climate models they must reproduce."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from gaitlink.hardware.sim import climate, motion
from tests.firmware.helpers import MicroPythonError, decode_frame, run_mpy

SEED = 20261122
G = 9.80665

IMU = """
import json, time
from array import array
from sim.board import SimBoard
from drivers.mpu6050 import MPU6050, decode
c = array("h", bytes(12))
buf = bytearray(12)
for acc, gyro in ((8, 1000), (2, 250)):
    imu = MPU6050(SimBoard(%d).i2c, 0x68)  # a fresh sensor: its samples start at k = 0
    imu.configure(100, acc, gyro)
    imu.fifo_start()
    rows = []
    while len(rows) < %d:
        time.sleep_ms(20)
        for _ in range(imu.fifo_count() // 12):
            imu.fifo_read(buf)
            decode(buf, 0, c)
            rows.append(list(c))
    print(json.dumps({"acc": acc, "gyro": gyro, "acc_scale": imu.acc_scale,
                      "gyro_scale": imu.gyro_scale, "rows": rows}))
"""


def _expected(k: int, acc_lsb_per_g: float, gyro_lsb_per_dps: float) -> list[float]:
    # the datasheet sensitivities, applied to the physical model value (unclamped counts)
    v = motion.sample(SEED, k, 100)
    acc = [x / (G / acc_lsb_per_g) for x in v[:3]]
    gyro = [x / (math.pi / 180 / gyro_lsb_per_dps) for x in v[3:]]
    return acc + gyro


def test_mpu6050__counts_follow_the_motion_model_and_the_range(fw_build):
    n = 300
    wide, narrow = run_mpy(fw_build, IMU % (SEED, n))
    sensitivities = {(8, 1000): (4096.0, 32.8), (2, 250): (16384.0, 131.0)}
    for run, k0 in ((wide, 0), (narrow, 0)):  # the FIFO hands out samples k = 0, 1, ...
        acc_lsb, gyro_lsb = sensitivities[(run["acc"], run["gyro"])]
        assert run["acc_scale"] == pytest.approx(G / acc_lsb, rel=1e-12)
        assert run["gyro_scale"] == pytest.approx(math.pi / 180 / gyro_lsb, rel=1e-12)
        clipped = 0
        for i, row in enumerate(run["rows"][:n]):
            for got, want in zip(row, _expected(k0 + i, acc_lsb, gyro_lsb), strict=True):
                if want >= 32767 or want <= -32768:
                    assert got == (32767 if want > 0 else -32768)
                    clipped += 1
                else:
                    assert abs(got - want) <= 0.5 + 1e-6  # quantisation only
        if run["acc"] == 8:
            assert clipped == 0
        else:
            assert clipped > 0  # heel strikes exceed 2 g: the ADC saturates as on the chip
    # counts * scale is the physical value, whatever the range
    for run, k0 in ((wide, 0), (narrow, 0)):
        for i in (0, 17, 123):
            v = motion.sample(SEED, k0 + i, 100)
            row = run["rows"][i]
            assert abs(row[0] * run["acc_scale"] - v[0]) <= run["acc_scale"]
            assert abs(row[4] * run["gyro_scale"] - v[4]) <= run["gyro_scale"]


def test_mpu6050__absent_device_raises_oserror(fw_build):
    code = """
import json
from sim.board import SimBoard
from drivers.mpu6050 import MPU6050
try:
    MPU6050(SimBoard(1).i2c, 0x69)
except OSError as e:
    print(json.dumps({"errno": e.args[0]}))
"""
    assert run_mpy(fw_build, code) == [{"errno": 19}]  # ENODEV: nobody ACKs 0x69


ENV = """
import json
from sim.board import SimBoard
import time
from drivers.bme280 import BME280, MEASURE_MS
env = BME280(SimBoard(%d).i2c, 0x76)
for m in range(6):
    env.trigger()
    time.sleep_ms(MEASURE_MS)
    while env.busy():
        time.sleep_ms(1)
    print(json.dumps(list(env.read())))
"""


def test_bme280__integer_compensation_gives_the_model_values(fw_build):
    out = run_mpy(fw_build, ENV % SEED)
    assert len(out) == 6
    for m, (t, rh, p) in enumerate(out):
        want_t, want_rh, want_p = climate.reading(SEED, m)
        assert t == pytest.approx(want_t, abs=0.011)  # the integer formula's 0.01 degC step
        assert rh == pytest.approx(want_rh, abs=0.01)
        assert p == pytest.approx(want_p, abs=0.01)


def test_bme280__absent_device_raises_oserror(fw_build):
    code = """
from sim.board import SimBoard
from drivers.bme280 import BME280
BME280(SimBoard(1).i2c, 0x77)
"""
    with pytest.raises(MicroPythonError, match="OSError"):
        run_mpy(fw_build, code)


SAMPLER = """
import json, binascii
import asyncio
from sim.board import SimBoard
from drivers.mpu6050 import MPU6050
from clock import Clock
from ring import Ring
from sampler import Sampler
import frame

hw = SimBoard(%d, options={"drift_ppm": %d})
imu = MPU6050(hw.i2c, 0x68)
imu.configure(100, 2, 1000)
ring = Ring(frame.size(50), 8)
cfg = {"rate_hz": 100, "samples_per_frame": 50, "max_samples": 120, "stuck_samples": 25,
       "range_checks": {"gy": [-1.0, 1.0]}}
s = Sampler(imu, ring, Clock(), 0xB007, cfg)
asyncio.run(s.run())
for i in range(ring.tail, ring.head):
    print(json.dumps({"hex": binascii.hexlify(ring.frame(i)).decode()}))
print(json.dumps({"samples": s.samples, "frames": s.frames, "lost": s.lost,
                  "first_t0_us": s.first_t0_us, "period": s.sclock.period_us()}))
"""


def test_sampler__fifo_frames_every_sample_once_with_quality_bits(fw_build):
    # 500 ppm fast sensor clock: still every sample k = 0..119, once, in order
    *frames, stats = run_mpy(fw_build, SAMPLER % (SEED, 500))
    assert stats["samples"] == 120 and stats["lost"] == 0
    decoded = [decode_frame(bytes.fromhex(f["hex"])) for f in frames]
    assert [d["n"] for d in decoded] == [50, 50, 20]
    assert [d["seq"] for d in decoded] == [0, 1, 2]
    assert decoded[0]["t0_us"] == stats["first_t0_us"]
    for a, b in pairwise(decoded):
        # t0 follows the sensor's count, moving at most a quarter period per frame
        assert abs(b["t0_us"] - (a["t0_us"] + a["n"] * 10000)) <= 2500
    assert all(d["boot_id"] == 0xB007 and d["period_us"] == 10000 for d in decoded)
    samples = [s for d in decoded for s in d["samples"]]
    acc_lsb, gyro_lsb = 16384.0, 32.8
    for k, row in enumerate(samples):
        want = _expected(k, acc_lsb, gyro_lsb)
        for got, w in zip(row, want, strict=True):
            assert abs(got - max(-32768, min(32767, w))) <= 0.5 + 1e-6
    gyro_scale = decoded[0]["gyro_scale"]
    lo, hi = int(-1.0 / gyro_scale), int(1.0 / gyro_scale)
    for d in decoded:
        acc_clip = any(c in (32767, -32768) for s in d["samples"] for c in s[:3])
        gyro_clip = any(c in (32767, -32768) for s in d["samples"] for c in s[3:])
        violation = any(not lo <= s[4] <= hi for s in d["samples"])
        assert bool(d["quality"] & 0x01) == acc_clip
        assert bool(d["quality"] & 0x02) == gyro_clip
        assert bool(d["quality"] & 0x04) == violation
        assert not d["quality"] & 0x38  # no OVERRUN, SENSOR_ERROR, SENSOR_STUCK
    assert any(d["quality"] & 0x01 for d in decoded)  # 2 g range: heel strikes clip
