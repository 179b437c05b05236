"""Cycles cut from what the ingest stored equal `segment()` on the same samples, even when
the device clock steps or drifts from the nominal grid (docs: gaitlink/research/cycles.py).
Pure logic: the real ingest pipeline turns real v1 frames into line protocol, which is read
back as InfluxDB would."""

from __future__ import annotations

import numpy as np
import pytest

from gaitlink.cloud.gait import segment
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile
from gaitlink.cloud.ingest.gait import GaitStage
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.hardware.walker import synthesize
from gaitlink.mqtt.link import Message
from gaitlink.research.cycles import cut, first_sample_us
from tests.cloud.frames import drifting_offsets, encode_frame

ACC_SCALE = 16 * 9.80665 / 32768
GYRO_SCALE = 2000 * np.pi / 180 / 32768
T0 = 1_792_000_000_000_000
N = 50
CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")


def _stored(tmp_path, samples, clock_offsets_us):
    """Feed frames (t0 shifted by each frame's clock offset) to the ingest; parse its lines."""
    counts = np.round(samples / ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)
    pipeline = Pipeline(
        DeviceBook({}, DeviceProfile(placement="foot")),
        DeadLetterStore(tmp_path / "dl.jsonl"),
        GaitStage(),
    )
    lines = []
    for seq in range(len(samples) // N):
        payload = encode_frame(
            counts[seq * N : (seq + 1) * N], seq=seq,
            t0_us=T0 + seq * N * 10_000 + clock_offsets_us[seq],
            acc_scale=ACC_SCALE, gyro_scale=GYRO_SCALE,
        )  # fmt: skip
        lines += pipeline.transform([Message("gaitlink/v1/w/imu", payload, 1, False, seq)]).lines
    imu = [_parse(line) for line in lines if line.startswith("imu,")]
    cycles = [_parse(line) for line in lines if line.startswith("gait_cycle,")]
    times = np.array([t for t, _ in imu], dtype=np.int64)
    values = np.array([[f[c] for c in CHANNELS] for _, f in imu])
    return times, values, cycles


def _cut(times, values, cycles, **kw):
    col = {k: np.array([f.get(k, np.nan) for f in cycles], dtype=float)
           for k in ("origin_us", "first_us", "rate_hz", "start_s", "end_s")}  # fmt: skip
    at, tolerance = first_sample_us(col["origin_us"], col["rate_hz"], col["start_s"],
                                    kw.pop("first_us", col["first_us"]))  # fmt: skip
    return cut(times, values, col["rate_hz"], col["start_s"], col["end_s"], at, tolerance, **kw)


def _parse(line: str) -> tuple[int, dict]:
    _head, fields, time = line.rsplit(" ", 2)
    out = {}
    for item in fields.split(","):
        key, value = item.split("=", 1)
        if value.endswith("i"):
            out[key] = int(value[:-1])
        elif value in ("true", "false"):
            out[key] = value == "true"
        elif value.startswith('"'):
            out[key] = value.strip('"')
        else:
            out[key] = float(value)
    return int(time), out


@pytest.mark.parametrize(
    "offsets",
    [
        pytest.param(lambda n, rng: np.zeros(n, dtype=np.int64), id="steady-clock"),
        # Time beacons step the device clock by a few ms at frame boundaries, both ways.
        pytest.param(
            lambda n, rng: np.cumsum(rng.integers(-1500, 1500, n)).clip(-4000, 4000),
            id="clock-steps",
        ),
        # The device clock slews away from the nominal grid by up to 2.4 periods and back.
        pytest.param(lambda n, rng: drifting_offsets(n), id="drift"),
    ],
)
def test_cut__equals_segment_on_the_stored_samples(tmp_path, offsets) -> None:
    walk = synthesize("foot", 100.0, 40.0, cadence_spm=55.0, seed=3)
    n_frames = len(walk.samples) // N
    times, values, cycles = _stored(
        tmp_path, walk.samples, offsets(n_frames, np.random.default_rng(1))
    )
    valid = [f for _, f in cycles if f["valid"]]
    assert len(valid) >= 15
    got, ok = _cut(times, values, valid)
    assert ok.all()
    # segment() on the same stored samples, in stream order, from the stream's first one.
    expected = segment(values, 100.0, "foot")
    assert expected.normalized.shape == got.shape
    np.testing.assert_allclose(got, expected.normalized, rtol=0, atol=1e-9)


def test_cut__a_cycle_with_missing_samples_is_nan_not_guessed(tmp_path) -> None:
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=3)
    times, values, cycles = _stored(tmp_path, walk.samples, np.zeros(len(walk.samples) // N, int))
    valid = [f for _, f in cycles if f["valid"]]
    # Lose ten samples inside the third cycle, as if a write had been lost.
    middle = valid[2]["origin_us"] + (valid[2]["start_s"] + valid[2]["end_s"]) / 2 * 1e6
    keep = np.abs(times - middle) > 50_000
    got, ok = _cut(times[keep], values[keep], valid)
    assert not ok[2] and np.isnan(got[2]).all()
    assert ok[[0, 1, 3]].all() and np.isfinite(got[[0, 1, 3]]).all()


def test_cut__a_device_without_gyroscope_gets_its_accelerometer_cut(tmp_path) -> None:
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=3)
    times, values, cycles = _stored(tmp_path, walk.samples, np.zeros(len(walk.samples) // N, int))
    valid = [f for _, f in cycles if f["valid"]]
    acc_only = values.copy()
    acc_only[:, 3:] = np.nan  # as InfluxDB returns fields a device never sent
    got, ok = _cut(times, acc_only, valid)
    full, _ = _cut(times, values, valid)
    assert ok.all() and np.isnan(got[:, :, 3:]).all()
    np.testing.assert_array_equal(got[:, :, :3], full[:, :, :3])


def test_cut__rows_without_first_us_are_cut_from_the_nominal_grid_as_before(tmp_path) -> None:
    # Rows written before `first_us` existed: the sample within half a period of
    # origin_us + index / rate, which holds for a clock that stays that close to the grid.
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=3)
    n_frames = len(walk.samples) // N
    steps = np.random.default_rng(1).integers(-2000, 2000, n_frames)
    offsets = np.concatenate(([0], np.cumsum(steps[1:]))).clip(-4000, 4000)
    times, values, cycles = _stored(tmp_path, walk.samples, offsets)
    valid = [f for _, f in cycles if f["valid"]]
    old, ok_old = _cut(times, values, valid, first_us=np.full(len(valid), np.nan))
    new, ok_new = _cut(times, values, valid)
    assert ok_old.all() and ok_new.all()
    np.testing.assert_array_equal(old, new)


def test_cut__a_first_sample_time_no_stored_sample_has_is_not_guessed(tmp_path) -> None:
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=3)
    times, values, cycles = _stored(
        tmp_path, walk.samples, drifting_offsets(len(walk.samples) // N)
    )
    valid = [f for _, f in cycles if f["valid"]]
    first_us = np.array([f["first_us"] for f in valid], dtype=float)
    first_us[1] += 1  # a microsecond off: not the stream's sample, whatever is nearest
    got, ok = _cut(times, values, valid, first_us=first_us)
    assert not ok[1] and np.isnan(got[1]).all()
    assert ok[[0, 2]].all()
