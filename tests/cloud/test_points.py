"""The `imu` encoder (points.imu_lines): one line per sample, values rounded to 1e-6 SI
and written as integer mantissas, read back exactly as the values the gait stage saw."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gaitlink.cloud.api.lines import parse_line
from gaitlink.cloud.ingest import points
from gaitlink.cloud.ingest.points import imu_lines, imu_values
from gaitlink.cloud.protocol import frame as wire
from gaitlink.cloud.protocol.frame import QUALITY_SEQ_JUMP, channel_names
from tests.cloud.frames import encode_frame


def _read_back(text: str):
    return [parse_line(line) for line in text.split("\n")]


@settings(max_examples=30, deadline=None)
@given(
    channels=st.sampled_from([0x01, 0x03]),
    n=st.integers(1, wire.MAX_SAMPLES),
    data=st.data(),
    acc_scale=st.floats(2**-17, 2**-6, width=32),
    gyro_scale=st.floats(2**-20, 2**-8, width=32),
    quality=st.integers(0, 0x7FFF),
    jump=st.booleans(),
)
def test_imu_lines__read_back_equal_the_values_the_gait_stage_sees(
    channels, n, data, acc_scale, gyro_scale, quality, jump
):
    width = 3 if channels == 0x01 else 6
    counts = data.draw(arrays(np.int16, (n, width)))
    frame = wire.decode(
        encode_frame(counts, channels=channels, acc_scale=acc_scale, gyro_scale=gyro_scale,
                     quality=quality, period_us=2_500, t0_us=1_790_000_000_123_456)
    )  # fmt: skip
    units, stored = imu_values(frame.physical())
    flags = QUALITY_SEQ_JUMP if jump else 0
    points = _read_back(imu_lines("dev-1", "foot", frame, units, flags=flags))
    assert len(points) == n
    names = channel_names(channels)
    for i, point in enumerate(points):
        assert point.measurement == "imu"
        assert point.tags == {"device": "dev-1", "placement": "foot"}
        assert point.time_us == 1_790_000_000_123_456 + i * 2_500
        assert point.fields.pop("q") == quality | flags
        # Exactly the floats InfluxDB stores from the text, and the gait stage's input.
        assert point.fields == dict(zip(names, stored[i].tolist(), strict=True))
    # Rounding to 1e-6 moves no value by more than half of that
    # (half of it exactly when the value ends in 5e-7, plus the ulp of its float.)
    assert np.abs(stored - frame.physical()).max() <= 5e-7 + 1e-12


def test_imu_lines__a_device_id_is_escaped_text_not_a_format():
    frame = wire.decode(encode_frame(np.arange(12, dtype=np.int16).reshape(2, 6)))
    units, stored = imu_values(frame.physical())
    for device in ("100%d", "a b,c=d", "50%"):
        points = _read_back(imu_lines(device, "lower_back", frame, units))
        assert [p.tags["device"] for p in points] == [device, device]
        assert points[1].fields["gz"] == stored[1, 5]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, wire.MAX_SAMPLES),
    channels=st.sampled_from([0x01, 0x03]),
    t0_us=st.integers(0, 2**62),
    period_us=st.integers(1, 10**6),
    quality=st.integers(0, 0xFFFF),
    device=st.sampled_from(["dev-1", "a b,c=d", "100%d", "gerät-é"]),
)
def test_imu_lines__compiled_encoder__same_text_as_python(
    data, n, channels, t0_us, period_us, quality, device
):
    # tools/setup.sh builds it (`gaitlink ingest build`); the ingest writes what it makes.
    assert points.imu_text is not None, "run `gaitlink ingest build`"
    width = 3 if channels == 0x01 else 6
    units = data.draw(arrays(np.int64, (n, width), elements=st.integers(-(2**62), 2**62)))
    frame = wire.Frame(1, 0, 1, 0, t0_us, period_us, channels, 1.0, 1.0, quality,
                       np.zeros((n, width), np.int16))  # fmt: skip
    compiled = imu_lines(device, "shank", frame, units, flags=QUALITY_SEQ_JUMP)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(points, "imu_text", None)
        python = imu_lines(device, "shank", frame, units, flags=QUALITY_SEQ_JUMP)
    assert compiled == python


def test_ingest_build__replaces_stale_builds(tmp_path) -> None:
    # cloud/aot.py's build, on the ingest's small encoder (the gait kernels take ~30 s).
    from gaitlink.cloud.ingest._compiled import BUILD

    stale = tmp_path / (BUILD.stem + "_" + "0" * 16 + ".cpython-311-x86_64-linux-gnu.so")
    stale.write_bytes(b"old")
    path, made = BUILD.build(tmp_path)
    assert made and path == BUILD.path(tmp_path) and path.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert BUILD.build(tmp_path) == (path, False)  # built: nothing to do
