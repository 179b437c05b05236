"""The numba kernels against the plain numpy reference (cloud/gait/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.gait import PLACEMENTS, segment
from gaitlink.cloud.gait.reference import segment_reference


def _assert_agree(x, rate, placement, quality=None) -> None:
    fast = segment(x, rate, placement, quality=quality)
    slow = segment_reference(x, rate, placement, quality=quality)
    # Same events: the kernels sum the filters in another order, so allow rounding.
    np.testing.assert_allclose(fast.initial_contacts, slow.initial_contacts, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.final_contacts, slow.final_contacts, rtol=0, atol=1e-6)
    assert fast.cycles.dtype == slow.cycles.dtype and fast.cycles.shape == slow.cycles.shape
    for name in fast.cycles.dtype.names:
        a, b = fast.cycles[name], slow.cycles[name]
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_allclose(fast.normalized, slow.normalized, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fast.ic_sides, slow.ic_sides)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize(("rate", "cadence"), [(50, 45), (100, 100), (204.8, 130)])
def test_kernels_agree_with_reference__walks(walk, placement, rate, cadence) -> None:
    w = walk(placement, rate, 25.0, cadence_spm=cadence, noise=0.08, drift=1.0, seed=21)
    quality = np.zeros(len(w.samples), np.uint16)
    quality[len(quality) // 3] = 1 << 4
    _assert_agree(w.samples, rate, placement, quality)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_kernels_agree_with_reference__nan(walk, placement) -> None:
    x = walk(placement, 100.0, 25.0, cadence_spm=60, seed=22).samples.copy()
    x[700:710, 1] = np.nan
    x[1300:1320, :] = np.nan  # the detection channel too
    _assert_agree(x, 100.0, placement)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("n", [0, 1, 3, 40, 300])
def test_kernels_agree_with_reference__short(walk, placement, n) -> None:
    _assert_agree(walk(placement, 100.0, 25.0, seed=23).samples[:n], 100.0, placement)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_kernels_agree_with_reference__constant_and_noise(placement) -> None:
    _assert_agree(np.full((1000, 6), 2.0), 100.0, placement)
    rng = np.random.default_rng(24)
    _assert_agree(rng.normal(0.0, 3.0, (3000, 6)), 100.0, placement)


def test_kernels_agree_with_reference__accelerometer_only(walk) -> None:
    w = walk("lower_back", 100.0, 25.0, cadence_spm=100, noise=0.08, drift=1.0, seed=25)
    _assert_agree(w.samples[:, :3], 100.0, "lower_back")


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rate", [20.0, 1000.0])
def test_kernels_agree_with_reference__rate_limits(walk, placement, rate) -> None:
    w = walk(placement, rate, 15.0, cadence_spm=70, noise=0.08, drift=1.0, seed=26)
    _assert_agree(w.samples, rate, placement)


@given(
    # Small integers too: ties, and a median exactly at best / sig.
    jumps=st.lists(st.floats(0.0, 50.0) | st.integers(0, 4).map(float), min_size=2, max_size=64),
    best=st.floats(0.0, 200.0) | st.integers(0, 12).map(float),
    sig=st.sampled_from([1.0, 2.0, 3.0]),
)
def test_stands_out__as_the_median_of_the_sorted_jumps(jumps, best, sig) -> None:
    from gaitlink.cloud.gait._limb import _stands_out

    s = np.sort(np.array(jumps))
    k = len(s) // 2
    expected = best > sig * (0.5 * (s[k - 1] + s[k]))
    assert _stands_out(np.array(jumps), len(jumps), best, sig) == expected
