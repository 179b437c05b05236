"""A device clock that drifts from the stream's nominal grid, through the real ingest process
into a real InfluxDB, read back with `gaitlink.research`.

The firmware slews its clock after time beacons (at most a quarter period per frame,
docs/protocol.md §2.1) and dates samples from the sensor's measured period, so a frame's t0
wanders from "first sample + samples / rate" by many periods over a session. The ingest's
stream counts samples; events, cycles and their cut must follow the device's own sample
times, not the nominal grid.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd

from gaitlink.cloud.gait import segment
from gaitlink.cloud.gait.table import CHANNELS
from gaitlink.cloud.influx.sync import InfluxV1Sync
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile
from gaitlink.cloud.ingest.gait import GaitStage
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.cloud.registry.db import FILENAME, open_registry
from gaitlink.cloud.registry.sessions import SessionStore
from gaitlink.hardware.walker import synthesize
from gaitlink.mqtt.link import Message
from gaitlink.research import connect
from gaitlink.tools import services
from gaitlink.tools.stack import free_port, influx_query
from tests.cloud.frames import drifting_offsets, encode_frame
from tests.integration.pipeline import count, gateway_publisher, publish_all, wait_until

DEVICE = "drift-01"
SUBJECT = "DRIFT_AB01"
TASK = "level_walking"
ACC_SCALE = 16 * 9.80665 / 32768
GYRO_SCALE = 2000 * np.pi / 180 / 32768
N = 50  # samples per frame
PERIOD_US = 10_000


def _us(times: pd.Series) -> np.ndarray:
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy()


def test_get_cycles__drifting_device_clock_equals_segment_on_the_same_raw(stack, tmp_path):
    walk = synthesize("foot", 100.0, 40.0, cadence_spm=55.0, seed=3)
    counts = np.round(walk.samples / ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)
    n_frames = len(counts) // N
    offsets = drifting_offsets(n_frames)
    assert offsets.max() > 2 * PERIOD_US  # far past the half period a rounding tolerates
    t0 = (time.time_ns() // 1000 - 120_000_000) // PERIOD_US * PERIOD_US
    frames = [
        encode_frame(
            counts[s * N : (s + 1) * N], boot_id=7, seq=s,
            t0_us=int(t0 + s * N * PERIOD_US + offsets[s]),
            acc_scale=ACC_SCALE, gyro_scale=GYRO_SCALE,
        )
        for s in range(n_frames)
    ]  # fmt: skip
    topic = f"gaitlink/v1/{DEVICE}/imu"
    ingest = services.ingest(stack, tmp_path, http_port=free_port())
    ingest.start()
    try:
        with gateway_publisher(stack, DEVICE) as gateway:
            publish_all(gateway, [(topic, f) for f in frames])
            where = f"WHERE device='{DEVICE}'"
            wait_until(lambda: count(stack, "imu", where) == n_frames * N, 60, "every sample")
            # As many cycles as the same frames give through the ingest's pipeline here.
            n_cycles = _cycles_of(tmp_path, topic, frames)
            wait_until(lambda: count_field(stack, "gait_cycle", "reason", where) == n_cycles,
                       30, "every cycle of the walk")  # fmt: skip
    finally:
        ingest.stop()
    last_us = int(t0 + (n_frames - 1) * N * PERIOD_US + offsets[-1] + (N - 1) * PERIOD_US)
    _record_session(stack, tmp_path, t0, last_us + PERIOD_US)

    r = _connect(stack)
    data, _ = r.get_cycles(SUBJECT, TASK)
    table = r.cycles_table(SUBJECT, TASK, valid_only=True)
    raw = r.get_raw(DEVICE, t0, last_us + 1)
    assert len(raw) == n_frames * N
    expected = segment(raw[list(CHANNELS)].to_numpy(), 100.0, "foot")
    assert len(table) == data.shape[0] >= len(expected.valid_cycles) - 1 >= 20
    assert np.isfinite(data).all(), "every valid cycle is cut, none NaN"
    np.testing.assert_allclose(expected.valid_cycles["start"][: len(table)], table["start_s"])
    np.testing.assert_allclose(data, expected.normalized[: len(data)], rtol=0, atol=1e-9)

    # Events and cycles are dated on the device's sample times: an IC lies between the
    # two raw samples around it, and a cycle's first sample is the stream's sample there.
    times = _us(raw["time"])
    ics = np.sort(_us(r.get_events(SUBJECT, TASK, kind="IC")["time"]))
    at = expected.initial_contacts[: len(ics)] * 100.0
    below, above = times[np.floor(at).astype(int)], times[np.floor(at).astype(int) + 1]
    assert ((below <= ics) & (ics <= above)).all()
    first = np.floor(table["start_s"].to_numpy() * table["rate_hz"].to_numpy()).astype(int)
    np.testing.assert_array_equal(table["first_us"].to_numpy(np.int64), times[first])


def test_get_cycles__rows_written_before_first_us_are_still_cut(stack, tmp_path):
    # What an older ingest wrote (no `first_us`), for a clock within half a period of the
    # grid: cut from `origin_us` as then, through InfluxDB's answer without that column.
    device, subject = "drift-old-01", "DRIFTOLD_AB01"
    walk = synthesize("foot", 100.0, 20.0, cadence_spm=55.0, seed=4)
    counts = np.round(walk.samples / ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)
    n_frames = len(counts) // N
    # Steps both ways at frame boundaries (at most a quarter period), never half a period
    # off the grid of the first frame (the stream's origin).
    steps = np.random.default_rng(2).integers(-2000, 2000, n_frames)
    offsets = np.concatenate(([0], np.cumsum(steps[1:]))).clip(-4000, 4000)
    t0 = (time.time_ns() // 1000 - 300_000_000) // PERIOD_US * PERIOD_US
    topic = f"gaitlink/v1/{device}/imu"
    messages = [
        Message(topic, encode_frame(counts[s * N : (s + 1) * N], boot_id=3, seq=s,
                                    t0_us=int(t0 + s * N * PERIOD_US + offsets[s]),
                                    acc_scale=ACC_SCALE, gyro_scale=GYRO_SCALE), 1, False, s)
        for s in range(n_frames)
    ]  # fmt: skip
    lines = _pipeline(tmp_path).transform(messages).lines
    old = [re.sub(r",first_us=\d+i", "", line) for line in lines]
    assert sum("first_us" in line for line in lines) >= 10 and not any("first_us" in x for x in old)
    InfluxV1Sync(stack.influx_settings()).write("\n".join(old))
    last_us = int(t0 + n_frames * N * PERIOD_US + offsets[-1])
    _record_session(stack, tmp_path, t0, last_us, device=device, subject=subject)

    r = _connect(stack)
    data, _ = r.get_cycles(subject, TASK)
    raw = r.get_raw(device, t0, last_us)
    expected = segment(raw[list(CHANNELS)].to_numpy(), 100.0, "foot")
    assert data.shape[0] >= len(expected.valid_cycles) - 1 >= 10
    np.testing.assert_allclose(data, expected.normalized[: len(data)], rtol=0, atol=1e-9)


def _connect(stack):
    s = stack.influx_settings()
    return connect(s.url, s.database, username=s.username, password=s.password, token=s.token)


def _pipeline(tmp_path) -> Pipeline:
    return Pipeline(
        DeviceBook({}, DeviceProfile(placement="foot")),
        DeadLetterStore(tmp_path / "local-dead-letters.jsonl"),
        GaitStage(),
    )


def count_field(stack, measurement: str, field: str, where: str) -> int:
    rows = influx_query(stack, f'SELECT count("{field}") FROM "{measurement}" {where}')
    return int(rows[0]["count"]) if rows else 0


def _cycles_of(tmp_path, topic: str, frames: list[bytes]) -> int:
    messages = [Message(topic, f, 1, False, i) for i, f in enumerate(frames)]
    lines = _pipeline(tmp_path).transform(messages).lines
    return sum(line.startswith("gait_cycle,") for line in lines)


def _record_session(
    stack, state_dir, start_us: int, end_us: int, device: str = DEVICE, subject: str = SUBJECT
) -> None:
    store = SessionStore(open_registry(state_dir / FILENAME))
    session = store.start(subject=subject, task=TASK, device=device, placement="foot",
                          side="left", start_us=start_us)  # fmt: skip
    InfluxV1Sync(stack.influx_settings()).write(store.stop(session.id, end_us=end_us).line())
