"""Firmware (MicroPython) -> site broker -> gateway -> cloud broker -> ingest -> InfluxDB.

Two simulated devices, 30 s of data each at 100 Hz, every stage a real process. The
expected value of every sample comes from the simulator's motion model, so the check is
exact up to int16 quantisation.
"""

import time

import numpy as np
import pytest

from gaitlink.hardware.sim import motion
from gaitlink.tools import demo
from gaitlink.tools.stack import influx_query

RATE_HZ = 100
SECONDS = 30
SAMPLES_PER_FRAME = 50  # the demo's default
CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")


@pytest.mark.e2e
@pytest.mark.micropython
def test_every_sample_reaches_influx_exactly_once_with_its_value_and_time(stack, tmp_path):
    started_us = time.time_ns() // 1000
    reports = demo.run(
        stack, tmp_path, devices=2, seconds=SECONDS, rate_hz=RATE_HZ, prefix="e2e", progress=print
    )
    assert [r.samples_sent for r in reports] == [SECONDS * RATE_HZ] * 2
    for seed, report in enumerate(reports, start=1):
        rows = influx_query(
            stack,
            f"SELECT * FROM imu WHERE device = '{report.device_id}' ORDER BY time",
            epoch="u",
        )
        # Exactly once: one point per generated sample, no more, no fewer.
        assert len(rows) == SECONDS * RATE_HZ, report
        times = np.array([r["time"] for r in rows])
        period_us = 1_000_000 // RATE_HZ
        # Inside a frame samples are one nominal period apart. A frame follows the previous
        # one within a quarter period, never overlapping it (protocol §2.1): the firmware
        # spreads its clock corrections; only the first beacon's, if forward, is one jump.
        steps = np.diff(times)
        boundaries = steps[steps != period_us]
        assert boundaries.size <= SECONDS * RATE_HZ // SAMPLES_PER_FRAME - 1, boundaries
        jumps = boundaries[np.abs(boundaries - period_us) > period_us // 4]
        assert jumps.size <= 1 and np.all(jumps > period_us), boundaries
        assert started_us <= times[0] and times[-1] <= time.time_ns() // 1000
        got = np.array([[r[c] for c in CHANNELS] for r in rows])
        expected = np.array([motion.sample(seed, k, RATE_HZ) for k in range(len(rows))])
        # Half an LSB of the configured ranges (±8 g, ±1000 dps) plus float32 scale rounding.
        tolerance = np.array([8 * 9.80665 / 32768] * 3 + [1000 * np.pi / 180 / 32768] * 3)
        assert np.all(np.abs(got - expected) <= tolerance), np.abs(got - expected).max(axis=0)
        assert all(r["placement"] == "foot" for r in rows[:5])
