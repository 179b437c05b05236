"""Foot segmentation on real walking: gaitmap's example recording against motion capture.

The reference lists only the strides between the first and last labelled mid-stance of
each straight walk, so detections outside that span (gait initiation, the final steps)
are not judged; everything inside is, including the turn.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitlink.cloud.gait import segment
from gaitlink.tools.bench.accuracy import default_data_dir
from tests.gait.helpers import match, needs_real_data

DATA = default_data_dir()
RATE_HZ = 204.8

pytestmark = needs_real_data


def _foot(foot: str) -> np.ndarray:
    with (DATA / "imu_sample.csv").open() as f:
        sensors = f.readline().strip().split(",")
        axes = f.readline().strip().split(",")
    data = np.loadtxt(DATA / "imu_sample.csv", delimiter=",", skiprows=2)
    columns = {(s, a): i for i, (s, a) in enumerate(zip(sensors, axes, strict=True))}
    names = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
    x = data[:, [columns[(f"{foot}_sensor", n)] for n in names]]
    x[:, 3:] = np.deg2rad(x[:, 3:])  # deg/s -> rad/s; axes already match the body frame
    return x


def _reference(foot: str) -> tuple[np.ndarray, float, float]:
    ev = np.genfromtxt(
        DATA / "stride_events_sample.csv", delimiter=",", names=True, dtype=None, encoding=None
    )
    mine = ev[ev["foot"] == foot]
    return mine["ic"].astype(float), float(mine["start"].min()), float(mine["end"].max())


@pytest.mark.parametrize("foot", ["left", "right"])
def test_real_foot__initial_contacts(foot) -> None:
    ref_ic, first, last = _reference(foot)
    res = segment(_foot(foot), RATE_HZ, "foot")
    ic = res.initial_contacts * RATE_HZ
    judged = ic[(ic >= first) & (ic <= last)]
    f1, mae_ms = match(judged / RATE_HZ, ref_ic / RATE_HZ, 0.05)
    assert f1 >= 0.97, f1
    assert mae_ms <= 20.0, mae_ms
    # Walking is continuous apart from the turn: nearly every cycle is valid.
    assert res.cycles["valid"].mean() >= 0.85


@pytest.mark.parametrize("foot", ["left", "right"])
def test_real_foot__streaming_equals_batch(foot) -> None:
    from gaitlink.cloud.gait import GaitStream

    x = _foot(foot)
    batch = segment(x, RATE_HZ, "foot")
    stream = GaitStream(RATE_HZ, "foot")
    ics = [stream.push(x[i : i + 20]).initial_contacts for i in range(0, len(x), 20)]
    assert np.concatenate(ics).tobytes() == batch.initial_contacts.tobytes()
