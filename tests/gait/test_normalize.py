"""`normalize_cycles`: the stream's own resampler applied to cycles cut from a recording."""

from __future__ import annotations

import numpy as np
import pytest

from gaitlink.cloud.gait import PLACEMENTS, normalize_cycles, segment


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_normalize_cycles__equals_segment_value_for_value(walk, placement) -> None:
    w = walk(placement, 100.0, 30.0, cadence_spm=100, noise=0.05, seed=3)
    res = segment(w.samples, 100.0, placement)
    valid = res.valid_cycles
    assert len(valid) > 10
    got = normalize_cycles(
        w.samples, valid["start"] * 100.0, valid["end"] * 100.0, sides=valid["side"]
    )
    assert got.shape == res.normalized.shape
    # Bounds travel as seconds (start / rate * rate): equal up to float rounding of those.
    np.testing.assert_allclose(got, res.normalized, rtol=0, atol=1e-9)


def test_normalize_cycles__window_cut_from_the_recording_gives_the_same(walk) -> None:
    # A reader holds only the samples around one cycle: indices shift, values do not.
    w = walk("foot", 100.0, 20.0, cadence_spm=100, seed=4)
    res = segment(w.samples, 100.0, "foot")
    row = res.valid_cycles[3]
    s, e = row["start"] * 100.0, row["end"] * 100.0
    lo = int(np.floor(s)) - 2
    window = w.samples[lo : int(np.floor(e)) + 2]
    got = normalize_cycles(window, [s], [e], first=lo)
    # The same arithmetic on the same indices: equal to the last bit, whatever the window.
    np.testing.assert_array_equal(got, normalize_cycles(w.samples, [s], [e]))
    np.testing.assert_allclose(got[0], res.normalized[3], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="the samples held"):
        normalize_cycles(window, [s - 3], [e], first=lo)


@pytest.mark.parametrize(
    ("starts", "ends"),
    [([5.0], [4.0]), ([-1.0], [50.0]), ([5.0], [99.0]), ([np.nan], [50.0]), ([1.0, 2.0], [50.0])],
)
def test_normalize_cycles__invalid_bounds_are_refused(starts, ends) -> None:
    with pytest.raises(ValueError, match=r"cycles must|differ in length"):
        normalize_cycles(np.zeros((100, 6)), starts, ends)


def test_normalize_cycles__left_lower_back_cycles_are_mirrored(walk) -> None:
    # ipsi/contra: a left cycle is its body-frame cut with ay, gx, gz negated.
    w = walk("lower_back", 100.0, 30.0, cadence_spm=90, noise=0.05, seed=5)
    valid = segment(w.samples, 100.0, "lower_back").valid_cycles
    s, e = valid["start"] * 100.0, valid["end"] * 100.0
    plain = normalize_cycles(w.samples, s, e)
    mirrored = normalize_cycles(w.samples, s, e, sides=valid["side"])
    left = valid["side"] == "left"
    assert left.any() and (~left).any()
    np.testing.assert_array_equal(mirrored[~left], plain[~left])
    np.testing.assert_array_equal(mirrored[left][:, :, [1, 3, 5]], -plain[left][:, :, [1, 3, 5]])
    np.testing.assert_array_equal(mirrored[left][:, :, [0, 2, 4]], plain[left][:, :, [0, 2, 4]])
    with pytest.raises(ValueError, match="one side per cycle"):
        normalize_cycles(w.samples, s, e, sides=valid["side"][:-1])
