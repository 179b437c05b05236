"""The register-level MPU-6050/6500 model's FIFO, under CPython: time-driven samples at the
sensor's drifting clock, byte-level overflow that misaligns the stream, FIFO_MODE, reset."""

from __future__ import annotations

import time

from gaitlink.hardware.sim.mpu6050 import MPU6050Sim, MPU6500Sim

SEED = 11


def _setup(sim, div: int) -> None:
    sim.write(0x6B, b"\x01")  # wake
    sim.write(0x1A, b"\x03")  # DLPF 3: 1 kHz base rate
    sim.write(0x19, bytes([div]))
    sim.write(0x23, b"\x78")  # FIFO_EN: accel + gyro, 12 bytes per sample
    sim.write(0x6A, b"\x40")  # USER_CTRL.FIFO_EN: the sample clock starts


def _count(sim) -> int:
    b = bytearray(2)
    sim.read(0x72, b)
    return (b[0] << 8) | b[1]


def _status(sim) -> int:
    b = bytearray(1)
    sim.read(0x3A, b)
    return b[0]


def _sample_bytes(sim, k: int) -> bytes:
    c = sim.expected_counts(k)
    return b"".join((v & 0xFFFF).to_bytes(2, "big") for v in c)


def test_sim_fifo__hands_out_consecutive_samples_at_the_sensor_rate():
    sim = MPU6050Sim(SEED, drift_ppm=0)
    _setup(sim, 4)  # 200 Hz
    time.sleep(0.1)
    n = _count(sim)
    assert n % 12 == 0 and 12 * 15 <= n <= 12 * 25  # ~20 samples in 100 ms
    buf = bytearray(n)
    sim.read(0x74, buf)
    for k in range(n // 12):
        assert bytes(buf[12 * k : 12 * k + 12]) == _sample_bytes(sim, k)
    assert _count(sim) < 12 * 3 and not _status(sim) & 0x10


def test_sim_fifo__drift_changes_the_rate_against_the_host_clock():
    fast = MPU6050Sim(SEED, drift_ppm=50_000)  # 5 % fast: exaggerated to see it in 0.6 s
    slow = MPU6050Sim(SEED, drift_ppm=-50_000)
    _setup(fast, 9)  # 100 Hz
    _setup(slow, 9)
    time.sleep(0.6)
    assert _count(fast) >= _count(slow) + 12 * 4  # ~63 vs ~57 samples
    assert fast.period_us() < 10000 < slow.period_us()


def test_sim_fifo__overflow_overwrites_bytes_and_flags_it():
    sim = MPU6050Sim(SEED)
    _setup(sim, 0)  # 1 kHz: 1024 bytes (85 1/3 samples) fill in ~86 ms
    time.sleep(0.2)
    assert _count(sim) == 1024
    assert _status(sim) & 0x10  # FIFO_OFLOW, cleared on read
    assert not _status(sim) & 0x10 or _count(sim) == 1024
    first = bytearray(12)
    sim.read(0x74, first)
    # 1024 is not a multiple of 12: the oldest byte is not the start of a sample
    starts = {_sample_bytes(sim, k) for k in range(sim.k - 90, sim.k)}
    assert bytes(first) not in starts
    sim.write(0x6A, b"\x44")  # FIFO_RESET: aligned again, empty
    assert _count(sim) < 24
    time.sleep(0.02)
    n = _count(sim) // 12
    buf = bytearray(12 * n)
    sim.read(0x74, buf)
    left = _count(sim) // 12  # first: counting brings the sensor up to now, moving sim.k
    k0 = sim.k - n - left
    assert bytes(buf[:12]) == _sample_bytes(sim, k0)


def test_sim_fifo__mpu6500_fifo_mode_keeps_the_oldest():
    sim = MPU6500Sim(SEED)
    _setup(sim, 0)
    sim.write(0x1A, b"\x43")  # FIFO_MODE: a full FIFO takes no more samples
    time.sleep(0.1)
    assert _count(sim) == 504  # 42 whole samples of 512 bytes, aligned
    buf = bytearray(12)
    sim.read(0x74, buf)
    assert bytes(buf) == _sample_bytes(sim, 0)
    assert _status(sim) & 0x10
    b = bytearray(1)
    sim.read(0x75, b)
    assert b[0] == 0x70
