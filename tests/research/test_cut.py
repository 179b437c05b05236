"""Cycles cut from what the ingest stored equal `segment()` on the same samples, even when
the device clock steps (docs: gaitlink/research/cycles.py). Pure logic: the real ingest
pipeline turns real v1 frames into line protocol, which is read back as InfluxDB would."""

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
from gaitlink.research.cycles import cut
from tests.cloud.frames import encode_frame

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
    col = {k: np.array([f[k] for f in valid]) for k in ("origin_us", "rate_hz", "start_s", "end_s")}
    got, ok = cut(times, values, col["origin_us"], col["rate_hz"], col["start_s"], col["end_s"])
    assert ok.all()
    # segment() on the same stored samples, in stream order, from the stream's first one.
    expected = segment(values, 100.0, "foot")
    assert expected.normalized.shape == got.shape
    np.testing.assert_allclose(got, expected.normalized, rtol=0, atol=1e-9)


def test_cut__a_cycle_with_missing_samples_is_nan_not_guessed(tmp_path) -> None:
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=3)
    times, values, cycles = _stored(tmp_path, walk.samples, np.zeros(len(walk.samples) // N, int))
    valid = [f for _, f in cycles if f["valid"]]
    col = {k: np.array([f[k] for f in valid]) for k in ("origin_us", "rate_hz", "start_s", "end_s")}
    # Lose ten samples inside the third cycle, as if a write had been lost.
    middle = col["origin_us"][2] + (col["start_s"][2] + col["end_s"][2]) / 2 * 1e6
    keep = np.abs(times - middle) > 50_000
    got, ok = cut(times[keep], values[keep], col["origin_us"], col["rate_hz"], col["start_s"],
                  col["end_s"])  # fmt: skip
    assert not ok[2] and np.isnan(got[2]).all()
    assert ok[[0, 1, 3]].all() and np.isfinite(got[[0, 1, 3]]).all()


def test_cut__a_device_without_gyroscope_gets_its_accelerometer_cut(tmp_path) -> None:
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=3)
    times, values, cycles = _stored(tmp_path, walk.samples, np.zeros(len(walk.samples) // N, int))
    valid = [f for _, f in cycles if f["valid"]]
    col = {k: np.array([f[k] for f in valid]) for k in ("origin_us", "rate_hz", "start_s", "end_s")}
    acc_only = values.copy()
    acc_only[:, 3:] = np.nan  # as InfluxDB returns fields a device never sent
    got, ok = cut(times, acc_only, col["origin_us"], col["rate_hz"], col["start_s"], col["end_s"])
    full, _ = cut(times, values, col["origin_us"], col["rate_hz"], col["start_s"], col["end_s"])
    assert ok.all() and np.isnan(got[:, :, 3:]).all()
    np.testing.assert_array_equal(got[:, :, :3], full[:, :, :3])
