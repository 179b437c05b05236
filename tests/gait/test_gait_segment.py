"""`segment`: events against the walker's truth, validation, edge inputs, cycles table."""

from __future__ import annotations

import numpy as np
import pytest

from gaitlink.cloud.gait import CYCLE_DTYPE, PLACEMENTS, REASONS, segment
from tests.gait.helpers import match

GRID = [
    (placement, rate, cadence)
    for placement in PLACEMENTS
    for rate, cadence in ((50, 40), (100, 90), (200, 140), (100, 60))
]


@pytest.mark.parametrize(("placement", "rate", "cadence"), GRID)
def test_segment__events_match_truth(walk, placement, rate, cadence) -> None:
    w = walk(placement, rate, 40.0, cadence_spm=cadence, noise=0.08, drift=1.0, seed=cadence)
    res = segment(w.samples, rate, placement)
    f1, mae = match(res.initial_contacts, w.initial_contacts, 0.05)
    assert f1 >= 0.97 and mae <= 20.0, (f1, mae)
    f1_fc, mae_fc = match(res.final_contacts, w.final_contacts, 0.05)
    assert f1_fc >= 0.8 and mae_fc <= 30.0, (f1_fc, mae_fc)
    assert res.cycles["valid"].mean() > 0.9


@pytest.mark.parametrize("placement", ["foot", "shank"])
@pytest.mark.parametrize("rate", [100.0, 204.8])
@pytest.mark.parametrize("delay", [0.02, 0.05, 0.08, 0.12])
def test_segment__ic_at_the_contact_whatever_the_contact_delay(walk, placement, rate, delay):
    # The terminal-swing zero crossing of gy precedes the contact by 20-120 ms; the IC
    # must still land on the contact (the impact), within 15 ms.
    w = walk(placement, rate, 25.0, cadence_spm=55, noise=0.08, drift=1.0, seed=31,
             contact_delay_s=delay)  # fmt: skip
    ic = segment(w.samples, rate, placement).initial_contacts
    assert len(ic) == len(w.initial_contacts)
    err = ic - w.initial_contacts
    assert np.abs(err).max() <= 0.015, err


@pytest.mark.parametrize("rate", [50.0, 100.0, 1000.0])
@pytest.mark.parametrize("cadence", [40, 100])
@pytest.mark.parametrize("heel_strike", [1.0, 0.0])
def test_segment__lower_back_ic_at_the_contact_with_or_without_a_heel_strike(
    walk, rate, cadence, heel_strike
) -> None:
    # The lower-back IC is the heel strike's jolt; a soft landing (no jolt) falls back to
    # the steepest rise of the loading response. Either way the IC is the contact.
    w = walk("lower_back", rate, 25.0, cadence_spm=cadence, noise=0.08, drift=1.0, seed=7,
             heel_strike=heel_strike)  # fmt: skip
    f1, mae = match(segment(w.samples, rate, "lower_back").initial_contacts,
                    w.initial_contacts, 0.05)  # fmt: skip
    assert f1 >= 0.95 and mae <= 12.0, (f1, mae)


def test_segment__lower_back_sides_alternate_and_match_truth(walk) -> None:
    w = walk("lower_back", 100.0, 30.0, cadence_spm=55, seed=1)
    res = segment(w.samples, 100.0, "lower_back")
    sides = res.cycles["side"]
    assert set(sides) <= {"left", "right"} and np.all(sides[1:] != sides[:-1])
    # Each cycle starts at an IC of the foot it is named after.
    truth_side = {round(t, 1): s for t, s in zip(w.initial_contacts, w.side, strict=True)}
    named = [truth_side.get(round(t, 1)) for t in res.cycles["start"]]
    agree = np.mean([n == s for n, s in zip(named, sides, strict=True) if n is not None])
    assert agree > 0.95


def test_segment__lower_back_cycles_pool_ipsi_contra(walk) -> None:
    # Mirroring left cycles makes the medio-lateral channels of both feet alike, so the
    # pooled mean keeps their shape instead of cancelling to a flat line near 0.
    w = walk("lower_back", 100.0, 40.0, cadence_spm=60, noise=0.05, seed=6)
    res = segment(w.samples, 100.0, "lower_back")
    sides, norm = res.valid_cycles["side"], res.normalized
    left, right = norm[sides == "left"].mean(axis=0), norm[sides == "right"].mean(axis=0)
    for c in (1, 3, 5):  # ay, gx, gz
        assert np.corrcoef(left[:, c], right[:, c])[0, 1] > 0.9
        pooled = norm[:, :, c].mean(axis=0)
        assert np.abs(pooled).max() > 3 * norm[:, :, c].std(axis=0).mean()
    # The table keeps the body frame and the side.
    assert set(sides) == {"left", "right"}
    v = res.valid_cycles
    raw = [w.samples[int(np.ceil(a * 100)) : int(np.floor(b * 100)) + 1, 1].mean()
           for a, b in zip(v["start"], v["end"], strict=True)]  # fmt: skip
    np.testing.assert_allclose(v["ay_mean"], raw, rtol=1e-9, atol=1e-12)


def test_segment__cycles_table(walk) -> None:
    w = walk("foot", 100.0, 30.0, cadence_spm=55, seed=2)
    res = segment(w.samples, 100.0, "foot")
    c = res.cycles
    assert c.dtype == CYCLE_DTYPE and c.size == len(res.initial_contacts) - 1
    np.testing.assert_allclose(c["start"], res.initial_contacts[:-1])
    np.testing.assert_allclose(c["end"], res.initial_contacts[1:])
    np.testing.assert_allclose(c["duration"], c["end"] - c["start"])
    np.testing.assert_allclose(c["cadence"], 120.0 / c["duration"])  # steps/min
    ok = c["valid"]
    assert np.all((c["start"][ok] < c["fc"][ok]) & (c["fc"][ok] < c["end"][ok]))
    np.testing.assert_allclose(c["stance_pct"] + c["swing_pct"], 100.0)
    assert np.all((c["stance_pct"][ok] > 50) & (c["stance_pct"][ok] < 70))
    # Features: the gyro's sagittal range covers the swing peak and push-off.
    assert np.all(c["gy_rom"][ok] > 5.0) and np.all(np.abs(c["gy_peak"][ok]) > 3.0)
    assert set(c["reason"]) <= set(REASONS)


def test_segment__normalised_to_150_points(walk) -> None:
    rate = 100.0
    w = walk("shank", rate, 30.0, cadence_spm=70, seed=3)
    res = segment(w.samples, rate, "shank")
    valid = res.valid_cycles
    assert res.normalized.shape == (valid.size, 150, 6) and res.normalized.dtype == np.float64
    t = np.arange(len(w.samples)) / rate
    for cycle, norm in zip(valid, res.normalized, strict=True):
        phase = cycle["start"] + np.arange(150) / 149 * (cycle["end"] - cycle["start"])
        for c in range(6):
            np.testing.assert_allclose(norm[:, c], np.interp(phase, t, w.samples[:, c]), atol=1e-9)


@pytest.mark.parametrize("placement", ["hand", "Foot", "", None, ["foot"]])
def test_segment__invalid_placement(placement) -> None:
    with pytest.raises(ValueError, match="foot, shank, lower_back"):
        segment(np.zeros((100, 6)), 100.0, placement)


@pytest.mark.parametrize("rate", [19.9, 1000.1, 0, -100, float("nan"), "fast"])
def test_segment__invalid_rate(rate) -> None:
    with pytest.raises(ValueError, match="20–1000 Hz"):
        segment(np.zeros((100, 6)), rate, "foot")


@pytest.mark.parametrize("shape", [(100,), (100, 4), (100, 7), (2, 3, 6)])
def test_segment__invalid_shape(shape) -> None:
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        segment(np.zeros(shape), 100.0, "foot")


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("n", [0, 1, 5, 60, 150])
def test_segment__short_signal_gives_empty_result(walk, placement, n) -> None:
    x = walk(placement, 100.0, 30.0, seed=4).samples[100 : 100 + n]
    res = segment(x, 100.0, placement)
    assert res.cycles.size == 0 and res.normalized.shape == (0, 150, 6)
    assert res.initial_contacts.dtype == np.float64


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("value", [0.0, 9.81, -3.0, 1e6])
def test_segment__constant_signal_has_no_events(placement, value) -> None:
    res = segment(np.full((3000, 6), value), 100.0, placement)
    assert res.initial_contacts.size == 0 and res.final_contacts.size == 0 and res.cycles.size == 0


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_segment__nan_marks_cycles_not_crash(walk, placement) -> None:
    w = walk(placement, 100.0, 30.0, cadence_spm=55, seed=5)
    x = w.samples.copy()
    x[1500:1503, 0] = np.nan  # accelerometer only: events still found, cycle flagged
    x[2200, 3] = np.inf
    res = segment(x, 100.0, placement)
    bad = res.cycles[res.cycles["reason"] == "nan"]
    assert 1 <= bad.size <= 6 and not bad["valid"].any()
    assert np.isnan(bad["ax_mean"]).all()
    for t in (15.0, 22.0):
        assert np.any((bad["start"] <= t) & (t <= bad["end"]))
    assert np.isfinite(res.normalized).all()


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_segment__all_nan(placement) -> None:
    res = segment(np.full((2000, 6), np.nan), 100.0, placement)
    assert res.cycles.size == 0 and res.initial_contacts.size == 0


def test_segment__nan_in_detection_channel(walk) -> None:
    w = walk("foot", 100.0, 30.0, cadence_spm=55, seed=6)
    x = w.samples.copy()
    x[1000:1100, 4] = np.nan  # a second of gyro lost: no events there, no crash
    res = segment(x, 100.0, "foot")
    assert not np.any((res.initial_contacts > 10.0) & (res.initial_contacts < 11.0))
    f1, _ = match(res.initial_contacts, w.initial_contacts, 0.05)
    assert f1 > 0.9


def test_segment__device_flag(walk) -> None:
    w = walk("foot", 100.0, 30.0, cadence_spm=55, seed=7)
    quality = np.zeros(len(w.samples), np.uint16)
    quality[1200] = 1 << 0  # ACC_CLIPPED
    res = segment(w.samples, 100.0, "foot", quality=quality)
    flagged = res.cycles[res.cycles["reason"] == "device_flag"]
    assert flagged.size == 1 and flagged["start"][0] <= 12.0 <= flagged["end"][0]
    assert res.normalized.shape[0] == res.cycles["valid"].sum()
    with pytest.raises(ValueError, match="quality"):
        segment(w.samples, 100.0, "foot", quality=quality[:-1])


def _at_midstance(w, k: int) -> int:
    """Sample index of mid-stance after the k-th IC (the gyro is still there)."""
    stride = 60.0 / w.cadence_spm
    return round((w.initial_contacts[k] + 0.3 * stride) * w.rate_hz)


def test_segment__outlier_after_a_change_of_pace(walk) -> None:
    slow = walk("foot", 100.0, 30.0, cadence_spm=50, seed=8)
    fast = walk("foot", 100.0, 30.0, cadence_spm=90, seed=8)
    cut = _at_midstance(slow, 15)
    x = np.concatenate((slow.samples[:cut], fast.samples[_at_midstance(fast, 5) :]))
    c = segment(x, 100.0, "foot").cycles
    after = c[c["start"] > cut / 100.0]
    # The first fast strides are far from the running median of the slow ones; once they
    # are the majority of the recent strides, they are valid again.
    assert after["reason"][0] == "outlier" and not after["valid"][0]
    assert after["valid"][5:].all()


def test_segment__pause_gives_one_duration_cycle(walk) -> None:
    w = walk("foot", 100.0, 40.0, cadence_spm=55, seed=8)
    cut = _at_midstance(w, 15)
    still = np.tile(w.samples[cut], (300, 1))  # 3 s standing still
    x = np.concatenate((w.samples[:cut], still, w.samples[cut:]))
    c = segment(x, 100.0, "foot").cycles
    long = c[c["duration"] > 2.5]
    assert long.size == 1 and long["reason"][0] == "duration" and not long["valid"][0]
    assert np.isnan(long["ax_rom"][0])
    assert c[c["duration"] <= 2.5]["valid"].all()


def test_segment__gaps_argument(walk) -> None:
    w = walk("foot", 100.0, 30.0, cadence_spm=55, seed=9)
    res = segment(w.samples, 100.0, "foot", gaps=[1500])
    gap = res.cycles[res.cycles["reason"] == "gap"]
    assert gap.size == 1 and gap["start"][0] < 15.0 and gap["end"][0] == pytest.approx(14.99)
    # After the gap the detector starts afresh: events as for the data after the gap alone.
    after = segment(w.samples[1500:], 100.0, "foot")
    np.testing.assert_allclose(
        res.initial_contacts[res.initial_contacts > 15.0], after.initial_contacts + 15.0
    )
    with pytest.raises(ValueError, match="gaps"):
        segment(w.samples, 100.0, "foot", gaps=[len(w.samples)])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("activity", ["standing", "sitting", "turning"])
@pytest.mark.parametrize("rate", [50.0, 100.0, 200.0])
def test_segment__no_ics_where_nobody_walks(placement, activity, rate) -> None:
    from gaitlink.hardware.walker import synthesize_rest

    rest = synthesize_rest(placement, rate, 120.0, activity, seed=int(rate))
    res = segment(rest.samples, rate, placement)
    assert len(res.initial_contacts) / 2.0 < 1.0  # per minute


@pytest.mark.parametrize(("lean_deg", "freq_hz"), [(90.0, 2.0), (90.0, 3.0), (60.0, 2.0)])
def test_segment__lower_back_no_steps_in_wiggles_after_standing_up(lean_deg, freq_hz) -> None:
    # Standing up from a lean: the slow gravity estimate and baseline lag the new posture
    # for seconds, so a 0.2 m/s² (peak to trough) sway stood above the baseline by more
    # than the threshold floor, and every wiggle was a step (9-15 before the trough rule).
    # A step's loading peak must also rise above the trough before it.
    rate = 100.0
    t = np.arange(int(20 * rate)) / rate
    lean = np.deg2rad(lean_deg) * np.clip(6.0 - t, 0.0, 1.0)  # leaning until 5 s, up at 6 s
    x = np.zeros((t.size, 6))
    x[:, 0] = 9.81 * np.sin(lean)
    x[:, 2] = 9.81 * np.cos(lean) + 0.1 * np.sin(2 * np.pi * freq_hz * t)
    x += np.random.default_rng(0).normal(0.0, 0.02, x.shape)
    assert segment(x, rate, "lower_back").initial_contacts.size == 0


@pytest.mark.parametrize("rate", [50.0, 100.0, 200.0])
def test_segment__lower_back_no_ics_while_the_trunk_pitches(walk, rate) -> None:
    # Loading peaks while the trunk bends forward by 60° in 1.5 s and back up
    # (stepping while reaching, sitting down, standing up) are postural transitions, not
    # steps: no IC where the trunk pitched by more than 25° from 0.7 s before it to 0.2 s
    # after it. The same accelerations without the gyroscope's pitch give ICs there, so
    # the gyroscope is what drops them.
    w = walk("lower_back", rate, 30.0, cadence_spm=50, noise=0.05, seed=61)
    t = np.arange(len(w.samples)) / rate
    bend = np.deg2rad(40.0) * (np.clip(t - 12.0, 0.0, 1.5) - np.clip(t - 17.0, 0.0, 1.5))
    x = w.samples.copy()
    ax, az = x[:, 0].copy(), x[:, 2].copy()
    x[:, 0] = ax * np.cos(bend) + az * np.sin(bend)  # the trunk's frame, bent forward
    x[:, 2] = -ax * np.sin(bend) + az * np.cos(bend)
    x[:, 4] += np.gradient(bend, 1.0 / rate)  # pitch rate: 40° per second while bending

    def pitch_deg(times):  # the trunk's pitch change around each time
        return np.rad2deg(np.abs(np.interp(times + 0.2, t, bend) - np.interp(times - 0.7, t, bend)))

    ic = segment(x, rate, "lower_back").initial_contacts
    assert (pitch_deg(ic) < 28.0).all(), ic[pitch_deg(ic) >= 28.0]
    steady = pitch_deg(w.initial_contacts) < 22.0
    f1, _ = match(ic, w.initial_contacts[steady], 0.05)
    assert f1 >= 0.95, f1
    no_pitch = x.copy()
    no_pitch[:, 4] = w.samples[:, 4]
    ic_acc = segment(no_pitch, rate, "lower_back").initial_contacts
    assert (pitch_deg(ic_acc) > 28.0).sum() >= 2, ic_acc


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_segment__walk_then_sit_then_walk(walk, placement) -> None:
    # The rest between two walks stays free of ICs; the walks keep theirs.
    from gaitlink.hardware.walker import synthesize_rest

    w = walk(placement, 100.0, 20.0, cadence_spm=60, noise=0.05, seed=51)
    sit = synthesize_rest(placement, 100.0, 60.0, "sitting", seed=52).samples
    # Join at the level of the walk's last rest (sensor offsets differ between segments).
    x = np.concatenate((w.samples, sit - sit[:100].mean(0) + w.samples[-100:].mean(0), w.samples))
    ic = segment(x, 100.0, placement).initial_contacts
    assert not np.any((ic > 21.0) & (ic < 79.0))
    truth = np.concatenate((w.initial_contacts, w.initial_contacts + 80.0))
    f1, _ = match(ic, truth, 0.05)
    assert f1 >= 0.95
