"""The ingest's gait stage, driven through Pipeline.transform with real v1 frames."""

import numpy as np
import pytest

from gaitlink.cloud.api.lines import parse_line
from gaitlink.cloud.gait import GaitStream, segment
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile
from gaitlink.cloud.ingest.gait import GaitStage, SampleClock
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.hardware.walker import synthesize
from gaitlink.mqtt.link import Message
from tests.cloud.frames import drifting_offsets, encode_frame

ACC_SCALE = 16 * 9.80665 / 32768
GYRO_SCALE = 2000 * np.pi / 180 / 32768
T0 = 1_792_000_000_000_000
N = 50


@pytest.fixture(scope="module")
def walk():
    return synthesize("foot", 100.0, 40.0, cadence_spm=55.0, seed=3)


def _frames(samples, *, boot_id=1, t0_us=T0, skip=(), slew_us=0, offsets_us=None):
    counts = np.round(samples / ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)
    messages = []
    for seq in range(len(samples) // N):
        if seq in skip:
            continue
        payload = encode_frame(
            counts[seq * N : (seq + 1) * N],
            boot_id=boot_id,
            seq=seq,
            t0_us=t0_us
            + seq * (N * 10_000 + slew_us)
            + (0 if offsets_us is None else offsets_us[seq]),
            acc_scale=ACC_SCALE,
            gyro_scale=GYRO_SCALE,
        )
        messages.append(Message("gaitlink/v1/walker/imu", payload, 1, False, seq))
    return messages, counts * ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)


def _pipeline(tmp_path):
    book = DeviceBook({}, DeviceProfile(placement="foot"))
    return Pipeline(book, DeadLetterStore(tmp_path / "dl"), GaitStage())


def _gait_lines(pipeline, messages):
    lines = []
    for message in messages:
        lines += [line for line in pipeline.transform([message]).lines if line.startswith("gait_")]
    return lines


def _times(lines, prefix):
    return np.array([int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix)])


def test_gait_stage__events_match_batch_segmentation_of_the_same_data(tmp_path, walk):
    messages, quantised = _frames(walk.samples)
    lines = _gait_lines(_pipeline(tmp_path), messages)
    batch = segment(quantised, 100.0, "foot")
    ics = _times(lines, "gait_event,device=walker,kind=IC")
    expected = T0 + np.round(batch.initial_contacts * 1e6).astype(np.int64)
    np.testing.assert_array_equal(ics, expected[: len(ics)])
    # Only events within the look-ahead of the end can still be pending.
    assert len(expected) - len(ics) <= 1
    cycles = [line for line in lines if line.startswith("gait_cycle")]
    assert len(cycles) >= len(batch.cycles) - 1 > 20
    assert all("valid=true" in line for line in cycles[1:-1])


def test_gait_stage__slewed_device_clock_is_not_a_gap_nor_a_step(tmp_path, walk):
    # The firmware moves frame times by up to a quarter period per frame while it slews its
    # clock; over 40 s that adds up to far more than the half sample a stream tolerates.
    messages, quantised = _frames(walk.samples, slew_us=2_000)
    pipeline = _pipeline(tmp_path)
    lines = _gait_lines(pipeline, messages)
    cycles = [line for line in lines if line.startswith("gait_cycle")]
    assert len(cycles) >= len(segment(quantised, 100.0, "foot").cycles) - 1 > 20
    assert all("valid=true" in line for line in cycles[1:-1])
    assert pipeline.gait.clock_steps == 0 and pipeline.counters.gaps == 0


def test_gait_stage__events_and_cycles_are_dated_on_the_device_sample_times(tmp_path, walk):
    # The device clock wanders 2.4 periods off the nominal grid and back (a slew).
    offsets = drifting_offsets(len(walk.samples) // N)
    messages, quantised = _frames(walk.samples, offsets_us=offsets)
    pipeline = _pipeline(tmp_path)
    lines = _gait_lines(pipeline, messages)
    index = np.arange(len(offsets) * N)
    sample_us = T0 + index * 10_000 + offsets[index // N]  # what the device dated each sample
    batch = segment(quantised, 100.0, "foot")
    ics = _times(lines, "gait_event,device=walker,kind=IC")
    at = np.floor(batch.initial_contacts[: len(ics)] * 100.0).astype(int)
    assert len(ics) >= len(batch.initial_contacts) - 1 > 20
    # Between the two samples around it, on the period of the frame before.
    assert ((sample_us[at] <= ics) & (ics < sample_us[at] + 10_000)).all()
    on_samples = batch.initial_contacts[: len(ics)] * 100.0 == at
    np.testing.assert_array_equal(ics[on_samples], sample_us[at[on_samples]])
    cycles = [parse_line(line) for line in lines if line.startswith("gait_cycle")]
    first = [int(np.floor(c.fields["start_s"] * c.fields["rate_hz"])) for c in cycles]
    assert [c.fields["first_us"] for c in cycles] == sample_us[first].tolist()
    assert set(_times(lines, "gait_cycle")) <= set(ics)  # a cycle opens on a stored IC
    assert pipeline.snapshot()["gait"]["times_extrapolated"] == 0


def test_sample_clock__holds_a_bounded_recent_past_and_counts_what_it_extrapolates():
    stream = GaitStream(100.0, "foot")
    clock = SampleClock(stream, 10_000)
    drift = 700  # µs a frame, off the nominal grid
    for k in range(1_000):  # 500 s of 50-sample frames
        clock.add(k * N, T0 + k * (N * 10_000 + drift), N)
    newest = 1_000 * N - 1
    for back_s in (0, 5, 9):  # within the horizon: exactly the device's time
        i = newest - back_s * 100
        assert clock.sample_us(i) == T0 + i * 10_000 + (i // N) * drift
    assert clock.extrapolated == 0
    i = newest - 60 * 100  # a minute back: dated from the oldest frame held, counted
    assert clock.sample_us(i) != T0 + i * 10_000 + (i // N) * drift
    assert clock.extrapolated == 1
    # One-sample frames: the frame count bounds what is held (256 frames: 2.56 s at 100 Hz).
    small = SampleClock(stream, 10_000)
    for k in range(1_000):
        small.add(k, T0 + k * 10_300, 1)
    assert small.sample_us(999 - 255) == T0 + (999 - 255) * 10_300 and small.extrapolated == 0
    small.sample_us(999 - 256)
    assert small.extrapolated == 1


def test_gait_stage__seq_gap_marks_cycles_invalid_with_reason_gap(tmp_path, walk):
    messages, _ = _frames(walk.samples, skip={30, 31})
    pipeline = _pipeline(tmp_path)
    lines = _gait_lines(pipeline, messages)
    cycles = [line for line in lines if line.startswith("gait_cycle")]
    assert any('reason="gap"' in line and "valid=false" in line for line in cycles)
    assert pipeline.counters.gaps == 1


@pytest.mark.parametrize("sign", [1, -1], ids=["clock-ahead", "clock-behind"])
def test_gait_stage__seq_gap_on_a_drifted_clock_is_sized_from_the_device_times(
    tmp_path, walk, sign
):
    # Two frames lost while the device clock is 1.56 periods off the stream's origin grid:
    # the gap is what the device's times say passed (100 samples), not that plus the drift
    # (and a clock behind the grid is not a step back that restarts the stream).
    offsets = sign * drifting_offsets(len(walk.samples) // N)
    assert abs(offsets[52]) == 15_600
    messages, quantised = _frames(walk.samples, skip={50, 51}, offsets_us=offsets)
    pipeline = _pipeline(tmp_path)
    lines = _gait_lines(pipeline, messages)
    assert pipeline.counters.gaps == 1 and pipeline.gait.clock_steps == 0
    # The cycles after the gap are the batch's with the gap in place: same stream indices
    # (to 1 µs: the batch gets the lost samples with a gap flagged, the stream a blank).
    batch = segment(quantised, 100.0, "foot", gaps=[50 * N])
    cycles = [parse_line(line) for line in lines if line.startswith("gait_cycle")]
    after = [c.fields["start_s"] for c in cycles if c.fields["start_s"] > 53 * N / 100.0]
    expected = batch.cycles["start"][batch.cycles["start"] > 53 * N / 100.0]
    np.testing.assert_allclose(after, expected[: len(after)], rtol=0, atol=1e-6)
    assert len(after) >= 5


def test_gait_stage__new_boot_starts_a_fresh_stream(tmp_path, walk):
    pipeline = _pipeline(tmp_path)
    first, _ = _frames(walk.samples[:1000])
    second, _ = _frames(walk.samples[1000:3000], boot_id=2, t0_us=T0 + 60_000_000)
    lines = _gait_lines(pipeline, first + second)
    ics = _times(lines, "gait_event,device=walker,kind=IC")
    assert np.any(ics > T0 + 60_000_000) and np.any(ics < T0 + 10_000_000)
    assert pipeline.gait.clock_steps == 0


def test_gait_stage__clock_stepped_back_restarts_the_stream_and_is_counted(tmp_path, walk):
    pipeline = _pipeline(tmp_path)
    messages, _ = _frames(walk.samples[:2000])
    later, _ = _frames(walk.samples[2000:], t0_us=T0 + 19_000_000)  # 1 s back in time
    renumbered = [
        Message(m.topic, _renumber(m.payload, 40 + i), 1, False, 0) for i, m in enumerate(later)
    ]
    lines = _gait_lines(pipeline, messages + renumbered)
    assert pipeline.gait.clock_steps == 1
    assert len(_times(lines, "gait_event,device=walker,kind=IC")) > 20


def _renumber(payload: bytes, seq: int) -> bytes:
    import struct
    import zlib

    body = bytearray(payload[:-4])
    struct.pack_into("<I", body, 8, seq)
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("placement", ["foot", "lower_back"])
def test_gait_stage__lines_are_what_the_shared_encoder_writes(tmp_path, placement):
    # The stage formats its lines itself (speed); read back and re-encoded by
    # cloud.influx.line they must come out the same, byte for byte: same tags in the same
    # order, ints with `i`, floats as repr, strings quoted, no NaN field.
    from gaitlink.cloud.influx.line import Point, encode_point

    walk = synthesize(placement, 100.0, 30.0, cadence_spm=55.0, seed=5)
    messages, _ = _frames(walk.samples)
    book = DeviceBook({}, DeviceProfile(placement=placement))
    pipeline = Pipeline(book, DeadLetterStore(tmp_path / "dl"), GaitStage())
    lines = _gait_lines(pipeline, messages)
    kinds = {line.split(",", 1)[0] for line in lines}
    assert kinds == {"gait_event", "gait_cycle"}
    assert any("side=" in line for line in lines) == (placement == "lower_back")
    for line in lines:
        p = parse_line(line)
        assert encode_point(Point(p.measurement, p.tags, p.fields, p.time_us)) == line
