"""`supports()`, 20–1000 Hz and accelerometer-only input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitlink.cloud.gait import PLACEMENTS, GaitStream, StreamPool, segment, supports
from tests.gait.helpers import match


def test_supports__a_stream_the_methods_take():
    s = supports(100.0, "foot", ("acc", "gyro"))
    assert s.ok and s.reason == ""
    GaitStream(100.0, "foot")  # and the stream agrees


def test_supports__names_why_not():
    assert supports(1000.5, "foot", ("acc", "gyro"))[:2] == (False, "rate")
    assert supports(100.0, "wrist", ("acc", "gyro"))[:2] == (False, "placement")
    no_gyro = supports(100.0, "shank", ("acc",))
    assert no_gyro[:2] == (False, "channels") and "gyro" in no_gyro.detail


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rate", [20.0, 25.0, 100.0, 1000.0])
def test_supports__every_placement_20_to_1000_hz_with_both_sensors(placement, rate) -> None:
    for channels in (0x03, ("acc", "gyro")):
        s = supports(rate, placement, channels)
        assert s.ok, s
    assert ("half a sample" in supports(rate, placement, 3).detail) == (rate < 100)


@pytest.mark.parametrize("rate", [19.9, 1000.5, 4.0, float("nan"), "x"])
def test_supports__rate_outside_20_to_1000_hz(rate) -> None:
    s = supports(rate, "foot", 3)
    assert s[:2] == (False, "rate") and ("20–1000 Hz" in s.detail or "number" in s.detail)


def test_supports__accelerometer_only_lower_back_only() -> None:
    for channels in (0x01, "acc", ["acc"]):
        s = supports(100.0, "lower_back", channels)
        assert s.ok and "without the gyroscope" in s.detail
        for limb in ("foot", "shank"):
            s = supports(100.0, limb, channels)
            assert s[:2] == (False, "channels") and "needs gyro" in s.detail
    s = supports(100.0, "lower_back", "gyro")
    assert s[:2] == (False, "channels") and "needs acc" in s.detail


@pytest.mark.parametrize("channels", [0, 4, 6, "mag", True, None, ["acc", "x"], 2.5, []])
def test_supports__bad_channels_say_what_is_allowed(channels) -> None:
    s = supports(100.0, "lower_back", channels)
    assert s[:2] == (False, "channels") and "channels" in s.detail


@settings(max_examples=200, deadline=None)
@given(
    rate=st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=5), st.none()),
    placement=st.one_of(st.sampled_from(PLACEMENTS), st.text(max_size=8), st.none()),
    channels=st.one_of(
        st.integers(-5, 10), st.text(max_size=6), st.lists(st.text(max_size=5), max_size=3)
    ),
)
def test_supports__never_raises(rate, placement, channels) -> None:
    s = supports(rate, placement, channels)
    assert isinstance(s.ok, bool) and isinstance(s.detail, str)
    if not s.ok:
        assert s.reason in ("placement", "rate", "channels") and s.detail
    else:
        assert placement in PLACEMENTS


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rate", [20.0, 1000.0])
def test_segment__walks_at_the_rate_limits(walk, placement, rate) -> None:
    w = walk(placement, rate, 30.0, cadence_spm=60, noise=0.05, drift=1.0, seed=41)
    res = segment(w.samples, rate, placement)
    f1, mae = match(res.initial_contacts, w.initial_contacts, 0.05)
    # At 20 Hz a sample is 50 ms: events are known to about half of it.
    assert f1 >= 0.95 and mae <= (30.0 if rate == 20.0 else 10.0), (f1, mae)


def test_segment__accelerometer_only_lower_back(walk) -> None:
    w = walk("lower_back", 100.0, 30.0, cadence_spm=55, noise=0.05, seed=42)
    full = segment(w.samples, 100.0, "lower_back")
    acc = segment(w.samples[:, :3], 100.0, "lower_back")
    # Steps come from the accelerometer; the gyroscope only drops loading peaks while the
    # trunk pitches (postural transitions), which steady walking has none of.
    assert acc.initial_contacts.tobytes() == full.initial_contacts.tobytes()
    np.testing.assert_array_equal(acc.ic_sides, full.ic_sides)
    np.testing.assert_array_equal(acc.cycles["valid"], full.cycles["valid"])
    assert acc.cycles["valid"].mean() > 0.9
    ok = acc.cycles["valid"]
    for ch in ("ax", "ay", "az"):
        np.testing.assert_array_equal(acc.cycles[f"{ch}_rom"][ok], full.cycles[f"{ch}_rom"][ok])
    for ch in ("gx", "gy", "gz"):
        assert np.isnan(acc.cycles[f"{ch}_mean"]).all()
    assert np.isnan(acc.normalized[:, :, 3:]).all()
    np.testing.assert_array_equal(acc.normalized[:, :, :3], full.normalized[:, :, :3])


def test_stream__accelerometer_only_chunks_equal_batch(walk) -> None:
    x = walk("lower_back", 100.0, 30.0, cadence_spm=55, seed=43).samples[:, :3]
    batch = segment(x, 100.0, "lower_back")
    stream = GaitStream(100.0, "lower_back", channels="acc")
    ic = np.concatenate([stream.push(x[i : i + 37]).initial_contacts for i in range(0, len(x), 37)])
    assert ic.tobytes() == batch.initial_contacts.tobytes()
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        stream.push(np.zeros((10, 6)))


@pytest.mark.parametrize("placement", ["foot", "shank"])
def test_segment__accelerometer_only_limb_is_refused(placement) -> None:
    with pytest.raises(ValueError, match="needs the gyroscope"):
        segment(np.zeros((500, 3)), 100.0, placement)
    with pytest.raises(ValueError, match="needs the gyroscope"):
        GaitStream(100.0, placement, channels=0x01)


def test_pool__a_device_switching_to_accelerometer_only_gets_a_fresh_stream(walk) -> None:
    x = walk("lower_back", 100.0, 20.0, seed=44).samples
    pool = StreamPool()
    pool.push("d1", x[:500], 100.0, "lower_back")
    first = pool.stream("d1")
    pool.push("d1", x[500:, :3], 100.0, "lower_back")
    assert pool.stream("d1") is not first and pool.stream("d1").n_columns == 3
