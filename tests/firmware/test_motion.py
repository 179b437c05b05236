"""The simulator's walk is a walk: the cloud's shank method (its plain reference
implementation, no numba compile) finds the model's initial contacts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaitlink.hardware.sim import motion


def _true_initial_contacts(seed: int, rate_hz: float, n: int) -> np.ndarray:
    # IC where the stride phase wraps: stride_hz * t + phase / 2pi is an integer
    stride_hz, _amp, phase, _tilt = motion.gait_params(seed)
    first = (1 - phase / motion.TWO_PI) / stride_hz
    return np.arange(first, n / rate_hz, 1 / stride_hz)


def test_motion__pure_and_deterministic():
    assert motion.sample(3, 17, 100) == motion.sample(3, 17, 100)
    assert motion.sample(3, 17, 100) != motion.sample(4, 17, 100)
    ax, ay, az, gx, gy, gz = zip(*(motion.sample(3, k, 100) for k in range(1000)), strict=True)
    assert 9.0 < sum(az) / len(az) < 10.6  # gravity on z, tilted a little
    assert min(gy) < -3.0 and max(az) > 2 * motion.G  # swing and heel strike
    assert all(math.isfinite(v) for v in ax + ay + gx + gz)


@pytest.mark.parametrize("seed", [1, 7, 4242])
def test_motion__cloud_shank_method_finds_the_model_contacts(seed):
    from gaitlink.cloud.gait.reference import segment_reference

    rate, n = 100.0, 3000
    x = np.array([motion.sample(seed, k, rate) for k in range(n)])
    found = segment_reference(x, rate, "shank").initial_contacts
    true = _true_initial_contacts(seed, rate, n)
    assert len(found) >= len(true) - 2  # the method needs a stride to lock on
    for t in found:
        assert np.min(np.abs(true - t)) < 0.03  # within 30 ms of a true IC
