"""The synthetic walker: shapes, truth that matches the waveforms, counts, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitlink.hardware.walker import GRAVITY, PLACEMENTS, synthesize


def _index(walk, t: float) -> int:
    return round(t * walk.rate_hz)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rate_hz", [50.0, 100.0, 200.0, 204.8])
def test_synthesize__shapes(placement: str, rate_hz: float) -> None:
    walk = synthesize(placement, rate_hz, 20.0, noise=0.05, drift=1.0)
    assert walk.samples.shape == (round(20.0 * rate_hz), 6)
    assert walk.samples.dtype == np.float64
    assert np.isfinite(walk.samples).all()
    assert walk.rate_hz == rate_hz and walk.placement == placement
    assert walk.side.shape == walk.initial_contacts.shape
    assert walk.final_side.shape == walk.final_contacts.shape
    assert walk.time_s[-1] == pytest.approx((len(walk.samples) - 1) / rate_hz)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_synthesize__truth_consistent(placement: str) -> None:
    walk = synthesize(placement, 100.0, 30.0, cadence_spm=60.0, stride_variability=0.04)
    ic, fc = walk.initial_contacts, walk.final_contacts
    assert np.all(np.diff(ic) > 0) and np.all(np.diff(fc) > 0)
    assert ic[0] > 0 and ic[-1] < 30.0 and fc[0] > 0
    if placement == "lower_back":
        assert set(walk.side) == {"left", "right"}
        assert np.all(walk.side[1:] != walk.side[:-1]), "feet must alternate"
        for side in ("left", "right"):
            _check_one_foot(ic[walk.side == side], fc[walk.final_side == side])
    else:
        assert set(walk.side) == {"left"}
        _check_one_foot(ic, fc)


def _check_one_foot(ic: np.ndarray, fc: np.ndarray) -> None:
    # Each foot: toe-off, contact, toe-off, ..., contact; stance 50-70 % of the stride.
    assert len(fc) == len(ic)
    assert np.all(fc < ic) and np.all(ic[:-1] < fc[1:])
    stance = (fc[1:] - ic[:-1]) / np.diff(ic)
    assert np.all((stance > 0.5) & (stance < 0.72))


@pytest.mark.parametrize("cadence", [40.0, 60.0, 80.0, 100.0, 120.0, 140.0])
@pytest.mark.parametrize("placement", ["foot", "lower_back"])
def test_synthesize__event_count_follows_cadence(placement: str, cadence: float) -> None:
    walk = synthesize(placement, 100.0, 62.0, cadence_spm=cadence, rest_s=1.0)
    strides = 60.0 * cadence / 60.0  # 60 s of walking
    per_stride = 2 if placement == "lower_back" else 1
    assert abs(len(walk.initial_contacts) - per_stride * strides) <= 2 * per_stride
    intervals = np.diff(walk.initial_contacts) * per_stride
    assert np.median(intervals) == pytest.approx(60.0 / cadence, rel=0.03)


def test_synthesize__deterministic_by_seed() -> None:
    a = synthesize("lower_back", 100.0, 15.0, noise=0.05, drift=1.0, seed=7)
    b = synthesize("lower_back", 100.0, 15.0, noise=0.05, drift=1.0, seed=7)
    c = synthesize("lower_back", 100.0, 15.0, noise=0.05, drift=1.0, seed=8)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.initial_contacts, b.initial_contacts)
    assert not np.array_equal(a.samples, c.samples)
    assert not np.array_equal(a.initial_contacts, c.initial_contacts)


def test_foot__gyro_features_sit_on_the_events() -> None:
    walk = synthesize("foot", 200.0, 20.0, noise=0.0, stride_variability=0.03, seed=3)
    gy, az = walk.samples[:, 4], walk.samples[:, 2]
    window = round(0.05 * walk.rate_hz)
    for t_ic in walk.initial_contacts:
        i = _index(walk, t_ic)
        # Swing ends negative, IC is the rising zero crossing, the foot slap follows.
        assert gy[i - 3] < 0 < gy[i + 3]
        assert gy[i - 6 * window : i].min() < -3.0
        assert az[i : i + window].max() > 2 * GRAVITY, "no impact after IC"
    for t_fc in walk.final_contacts:
        i = _index(walk, t_fc)
        assert abs(int(np.argmax(gy[i - window : i + window])) - window) <= 1
        assert gy[i] > 5.0  # ~500 deg/s push-off peak
    # Standing still before the first toe-off: gravity on z, no rotation.
    rest = walk.samples[: _index(walk, 0.8)]
    np.testing.assert_allclose(rest.mean(axis=0), [0, 0, GRAVITY, 0, 0, 0], atol=1e-6)


def test_foot__lands_flat_every_stride() -> None:
    walk = synthesize("foot", 200.0, 20.0, noise=0.0, seed=1)
    pitch = np.cumsum(walk.samples[:, 4]) / walk.rate_hz
    midstance = walk.initial_contacts + 0.3 * np.median(np.diff(walk.initial_contacts))
    assert np.abs(pitch[np.round(midstance * walk.rate_hz).astype(int)]).max() < 0.02


def test_shank__salarian_extrema_at_events() -> None:
    walk = synthesize("shank", 200.0, 20.0, noise=0.0, stride_variability=0.03, seed=4)
    gy = walk.samples[:, 4]
    w = round(0.04 * walk.rate_hz)
    for t in np.concatenate((walk.initial_contacts, walk.final_contacts)):
        i = _index(walk, t)
        assert abs(int(np.argmax(gy[i - w : i + w])) - w) <= 1
    assert gy.min() < -4.0  # mid-swing peak, ~ -380 deg/s at 55 strides/min


def test_lower_back__vertical_peak_after_ic_and_sides_alternate() -> None:
    walk = synthesize("lower_back", 100.0, 30.0, noise=0.0, seed=5)
    az, ay = walk.samples[:, 2], walk.samples[:, 1]
    ml_after = []
    for t, side in zip(walk.initial_contacts, walk.side, strict=True):
        i = _index(walk, t)
        peak = int(np.argmax(az[i - 5 : i + 15])) - 5
        assert 1 <= peak <= 8, "vertical peak should follow IC by 10-80 ms"
        ml_after.append((side, ay[i : i + 20].mean()))
    assert all(v < 0 for s, v in ml_after if s == "left")
    assert all(v > 0 for s, v in ml_after if s == "right")
    assert az.mean() == pytest.approx(GRAVITY, abs=0.05)


def test_sensor_errors__noise_level_and_slow_drift() -> None:
    clean = synthesize("foot", 100.0, 30.0, noise=0.0, seed=2).samples
    noisy = synthesize("foot", 100.0, 30.0, noise=0.1, seed=2).samples
    ratio = (noisy - clean).std(axis=0) / clean.std(axis=0)
    np.testing.assert_allclose(ratio, 0.1, rtol=0.1)
    drifting = synthesize("foot", 100.0, 30.0, noise=0.1, drift=1.0, seed=2).samples
    wander = drifting - noisy
    assert np.abs(wander).max() > 0.01
    assert np.abs(np.diff(wander, axis=0)).max() < 1e-3, "drift must be slow"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"placement": "wrist"},
        {"rate_hz": 5.0},
        {"cadence_spm": 300.0},
        {"noise": -1.0},
        {"stride_variability": 0.5},
        {"duration_s": 2.0},
    ],
)
def test_synthesize__invalid(kwargs: dict) -> None:
    args = {"placement": "foot", "rate_hz": 100.0, "duration_s": 20.0} | kwargs
    with pytest.raises(ValueError):
        synthesize(**args)


@settings(max_examples=25, deadline=None)
@given(
    placement=st.sampled_from(PLACEMENTS),
    rate_hz=st.floats(50.0, 400.0),
    cadence=st.floats(40.0, 140.0),
    seed=st.integers(0, 2**31),
)
def test_synthesize__any_rate_and_cadence(
    placement: str, rate_hz: float, cadence: float, seed: int
) -> None:
    walk = synthesize(placement, rate_hz, 12.0, cadence_spm=cadence, seed=seed, noise=0.05)
    assert np.isfinite(walk.samples).all()
    assert len(walk.initial_contacts) >= 3
    assert walk.initial_contacts[-1] <= 11.0 and walk.final_contacts[0] >= 1.0


@pytest.mark.parametrize("delay", [0.02, 0.07, 0.12])
def test_foot__contact_delay_moves_the_swing_end_not_the_contact(delay: float) -> None:
    walk = synthesize("foot", 200.0, 15.0, noise=0.0, seed=6, contact_delay_s=delay)
    gy, az = walk.samples[:, 4], walk.samples[:, 2]
    for t_ic in walk.initial_contacts:
        # gy rises through zero `delay` before the contact; the impact follows the contact.
        zc = _index(walk, t_ic - delay)
        assert gy[zc - 3] < 0 < gy[zc + 3]
        i = _index(walk, t_ic)
        assert az[i : i + 10].max() > 2 * GRAVITY, "no impact after the contact"
        # The acceleration jolts at the contact, not at the end of the swing.
        jolt = np.abs(np.diff(az[i - 1 : i + 10])).max()
        assert np.abs(np.diff(az[zc - 10 : i - 1])).max() < jolt


def test_synthesize__contact_delay_out_of_range() -> None:
    with pytest.raises(ValueError, match="contact_delay_s"):
        synthesize("foot", 100.0, 20.0, contact_delay_s=0.3)


def test_lower_back__heel_strike_jolts_the_vertical_at_the_contact() -> None:
    hard = synthesize("lower_back", 200.0, 15.0, noise=0.0, seed=6, heel_strike=1.0)
    soft = synthesize("lower_back", 200.0, 15.0, noise=0.0, seed=6, heel_strike=0.0)
    jolt = hard.samples[:, 2] - soft.samples[:, 2]  # the transient alone
    for t_ic in hard.initial_contacts:
        i = _index(hard, t_ic)
        # A few m/s² within 50 ms after the contact; nothing before it.
        assert np.abs(jolt[i : i + 10]).max() > 1.0, t_ic
        assert np.abs(jolt[i - 20 : i - 1]).max() < 0.05, t_ic


def test_synthesize__heel_strike_out_of_range() -> None:
    with pytest.raises(ValueError, match="heel_strike"):
        synthesize("lower_back", 100.0, 20.0, heel_strike=-1.0)


@pytest.mark.parametrize("activity", ["standing", "sitting", "turning"])
def test_synthesize_rest__no_events_gravity_and_turns(activity: str) -> None:
    from gaitlink.hardware.walker import synthesize_rest

    rest = synthesize_rest("lower_back", 100.0, 30.0, activity, seed=1)
    assert rest.samples.shape == (3000, 6) and rest.initial_contacts.size == 0
    norm = np.linalg.norm(rest.samples[:, :3].mean(axis=0))
    assert norm == pytest.approx(GRAVITY, abs=0.2)
    turned = np.sum(rest.samples[:, 5]) / 100.0  # integral of the yaw rate, rad
    if activity == "turning":
        assert np.abs(rest.samples[:, 5]).max() > 2.5  # turns of 180° in 2 s
    else:
        assert abs(turned) < 0.5
