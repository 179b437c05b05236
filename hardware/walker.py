"""Synthetic walking IMU signals with known gait events, for tests and benchmarks.

`synthesize(placement, rate_hz, duration_s, ...)` returns a `Walk`: six channels
(ax, ay, az in m/s², gx, gy, gz in rad/s) in the body frame (x forward, y left, z up) of a
sensor on the left foot, the left shank or the lower back, and the true initial contacts
(IC) and final contacts (FC) in seconds from the first sample. Plain numpy, no scipy.

Generative model
----------------
Events. The walker stands still for `rest_s`, walks, and stands still again
(the first heel-off and the last foot-flat fall inside the walking part). Stride
durations are T·(1 + v·ε) with T = 60 / cadence, v = `stride_variability` and ε standard
normal clipped to ±3; the stance fraction falls with cadence (0.62 at 40, 0.55 at 140
strides/min) and jitters by v/2. The left foot leaves the ground first (FC at `rest_s`);
the right foot strikes half a stride after the left and leaves a stance fraction later.
Both feet end on an IC. Foot and shank walks report the left foot's events; lower-back
walks report both feet's, with `side` / `final_side` naming the foot.

Waveforms. Each channel is a monotone piecewise-cubic (PCHIP) curve through keypoints
placed at fixed fractions of the local stride before or after each event, with the
amplitude scaled by (cadence / 55)^0.7 and jittered per event by 2v. PCHIP puts every
local extremum exactly on a keypoint, so the timing of the features relative to the
events is exact. Values are given below in the sign of the body frame:

- foot, gy: flat in mid-stance; heel-off ramp up to a positive peak AT FC (the foot pitches
  toes-down about the toe; this is the "pre-swing minimum" of the swing-positive
  convention); a fast fall into the double-lobed NEGATIVE swing peak (toes up, forward
  swing); a steep rise through zero AT IC (the real gaitmap data crosses zero within a
  sample of the motion-capture IC) into the positive foot-slap peak ~6 % of a stride later.
  Foot gx and gz carry smaller inversion/eversion and toe-out patterns around the same
  events. Acceleration: the world-frame foot velocity (forward bell in swing, lift and
  lowering) is differentiated, a damped 25 Hz impact starts 5 ms after IC, the pitch angle
  (integral of gy, zero at mid-stance) rotates gravity and the linear acceleration into the
  body frame, and during heel-off / loading the sensor rotates about the toe / heel
  (tangential + centripetal terms).
- shank, gy (Salarian-like): positive during stance (tibia rolls forward over the foot),
  a positive local peak AT FC, a large negative mid-swing peak, and a sharp positive local
  peak AT IC. Acceleration as for the foot (no pivot), smaller impact.
- lower_back: vertical acceleration rises steeply from IC to a peak 3.5 % of a stride
  later (the loading response McCamley's integrate-then-differentiate detector finds),
  with the heel strike's transient (a damped 20 Hz oscillation of 3 m/s² starting 5 ms
  after IC; `heel_strike` scales it, 0 for soft landings), falls steepest around the
  contralateral FC, and has its trough in single support; forward acceleration peaks just
  before IC and brakes after it; medio-lateral acceleration, roll and yaw rate alternate
  sign with the side of the IC; pitch rate oscillates per step. These timings come from
  the literature's descriptions, checked against the Mobilise-D lower-back recordings
  (shared/data/mobilised-lowback, INDIP reference): there the loading rise starts at the
  reference contact, not before it (its steepest point lags the contact by ~15 ms), and
  the raw vertical shows a 2-5 m/s² spike at each contact.

Zero-mean where physics requires it: within each stride (foot, shank) or step (lower
back) the negative part of each angular rate, vertical velocity and trunk acceleration is
rescaled so the stride integral is zero (the foot lands flat, the trunk does not fly off).

Sensor. Waveforms are rendered at ≥ 1 kHz and averaged over each output sample period
(centred, so no delay), which is the sensor's anti-alias filter. Then, per channel:
white noise with standard deviation `noise` × (the channel's clean standard deviation),
and with `drift` > 0 a slow wander: a gyroscope bias offset N(0, 0.03·drift rad/s) plus
three sinusoids with 20-120 s periods and 0.03·drift rad/s amplitude, and an acceleration
baseline wander of the same form at 0.3·drift m/s². Everything random comes from `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLACEMENTS = ("foot", "shank", "lower_back")
GRAVITY = 9.81
_REF_CADENCE = 55.0  # strides/min at which the keypoint values below are given
_MIN_INTERNAL_HZ = 1000.0
_DEG = np.pi / 180.0

# Keypoints: (event, offset as a fraction of the local stride, value). Gyro in deg/s,
# velocities in m/s, accelerations in m/s².
_FOOT_GY = (
    ("fc", -0.24, 0.0), ("fc", -0.17, 120.0), ("fc", -0.09, 380.0), ("fc", -0.03, 430.0),
    ("fc", 0.0, 520.0), ("fc", 0.028, 0.0), ("fc", 0.11, -370.0), ("fc", 0.21, -290.0),
    ("ic", -0.07, -350.0), ("ic", -0.02, -130.0), ("ic", 0.0, 0.0), ("ic", 0.055, 330.0),
    ("ic", 0.09, 150.0), ("ic", 0.13, 0.0),
)  # fmt: skip
_FOOT_GX = (
    ("fc", -0.15, 0.0), ("fc", -0.03, 140.0), ("fc", 0.03, -100.0), ("fc", 0.12, -150.0),
    ("ic", -0.1, -120.0), ("ic", -0.02, 0.0), ("ic", 0.015, 250.0), ("ic", 0.045, -60.0),
    ("ic", 0.1, 0.0),
)  # fmt: skip
_FOOT_GZ = (
    ("fc", -0.2, 0.0), ("fc", -0.05, -120.0), ("fc", 0.04, 150.0), ("fc", 0.15, 70.0),
    ("ic", -0.1, 40.0), ("ic", 0.0, 0.0), ("ic", 0.03, -150.0), ("ic", 0.1, 0.0),
)  # fmt: skip
_FOOT_AY = (
    ("fc", -0.1, 0.0), ("fc", 0.0, -4.0), ("fc", 0.05, 3.0), ("fc", 0.15, 0.0),
    ("ic", -0.05, 2.0), ("ic", 0.015, -6.0), ("ic", 0.05, 2.0), ("ic", 0.1, 0.0),
)  # fmt: skip
_FOOT_VF = (
    ("fc", -0.1, 0.0), ("fc", 0.0, 0.6), ("fc", 0.17, 4.2), ("ic", -0.06, 1.2),
    ("ic", 0.0, 0.25), ("ic", 0.03, 0.0),
)  # fmt: skip
_FOOT_VU = (
    ("fc", -0.1, 0.0), ("fc", 0.0, 0.4), ("fc", 0.06, 0.9), ("fc", 0.16, 0.0),
    ("ic", -0.06, -0.7), ("ic", 0.0, -0.45), ("ic", 0.015, 0.0),
)  # fmt: skip

_SHANK_GY = (
    ("ic", 0.0, 150.0), ("ic", 0.05, 60.0), ("ic", 0.2, 100.0), ("fc", -0.2, 90.0),
    ("fc", 0.0, 250.0), ("fc", 0.06, 0.0), ("fc", 0.17, -380.0), ("ic", -0.1, -200.0),
    ("ic", -0.03, 0.0),
)  # fmt: skip
_SHANK_GX = (("ic", 0.0, 0.0), ("ic", 0.04, 30.0), ("fc", 0.0, -25.0), ("fc", 0.15, 20.0))
_SHANK_GZ = (("ic", 0.02, -50.0), ("ic", 0.3, 20.0), ("fc", 0.0, 60.0), ("fc", 0.2, -40.0))
_SHANK_AY = (("ic", 0.02, -4.0), ("ic", 0.1, 1.0), ("fc", 0.05, 2.0), ("fc", 0.2, -1.0))
_SHANK_VF = (
    ("ic", 0.0, 0.45), ("ic", 0.06, 0.2), ("fc", -0.2, 0.35), ("fc", 0.0, 0.8),
    ("fc", 0.17, 2.6), ("ic", -0.08, 1.1),
)  # fmt: skip
_SHANK_VU = (
    ("ic", 0.05, 0.0), ("fc", -0.05, 0.0), ("fc", 0.06, 0.5), ("fc", 0.2, 0.0),
    ("ic", -0.1, -0.3), ("ic", 0.0, -0.1),
)  # fmt: skip

# Lower back: "ic" is every IC of either foot, "cfc" the contralateral FC that follows it.
# Per channel: keypoints, whether the sign follows the side of the IC, and the offset after
# each IC where the channel is >= 0 (the edge of its zero-integral window).
_BACK = {
    "ax": ((("ic", -0.02, 1.5), ("ic", 0.06, -2.0), ("ic", 0.2, 0.3), ("ic", 0.33, -0.3)),
           False, -0.02),
    "ay": ((("ic", 0.0, 0.0), ("ic", 0.12, -1.5), ("ic", 0.3, -0.4)), True, 0.0),
    "az": ((("ic", 0.0, -1.0), ("ic", 0.035, 4.0), ("cfc", -0.02, 2.6), ("cfc", 0.02, 0.6),
            ("ic", 0.25, -2.5), ("ic", 0.38, -1.6)), False, 0.035),
    "gx": ((("ic", 0.0, 0.0), ("ic", 0.06, 20.0), ("ic", 0.25, -8.0)), True, 0.0),
    "gy": ((("ic", 0.0, 0.0), ("ic", 0.08, 9.0), ("ic", 0.3, -6.0)), False, 0.0),
    "gz": ((("ic", 0.0, 0.0), ("ic", 0.25, 25.0)), True, 0.0),
}  # fmt: skip

# Sensor position relative to the rotation pivot (body frame x, z; m): toe in heel-off,
# heel in loading. Impacts: (amplitude m/s², frequency Hz, decay s).
_FOOT_FROM_TOE = (-0.12, 0.04)
_FOOT_FROM_HEEL = (0.10, 0.04)
_FOOT_IMPACT = (50.0, 25.0, 0.012)
_SHANK_IMPACT = (20.0, 30.0, 0.008)
# The heel strike's transient as the trunk feels it, on the vertical: a few m/s² against the
# loading rise of a few more (the Mobilise-D lower-back recordings: 2-5 m/s² spikes in the
# raw vertical acceleration at the contacts of both healthy adults).
_BACK_IMPACT = (3.0, 20.0, 0.01)
_IMPACT_DELAY_S = 0.005


@dataclass(frozen=True, slots=True)
class Walk:
    """A synthetic recording and its true gait events (seconds from the first sample)."""

    samples: np.ndarray  # (n, 6) ax, ay, az [m/s²], gx, gy, gz [rad/s], body frame
    rate_hz: float
    placement: str
    initial_contacts: np.ndarray
    final_contacts: np.ndarray
    side: np.ndarray  # foot of each initial contact: "left" / "right"
    final_side: np.ndarray  # foot of each final contact
    cadence_spm: float

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(len(self.samples)) / self.rate_hz


@dataclass(frozen=True, slots=True)
class _Foot:
    ic: np.ndarray
    fc: np.ndarray  # fc[k] is the toe-off before ic[k]
    stride: np.ndarray  # local stride duration at ic[k] (also used for fc[k])


def synthesize(
    placement: str,
    rate_hz: float,
    duration_s: float,
    *,
    cadence_spm: float = 55.0,
    noise: float = 0.02,
    drift: float = 0.0,
    seed: int = 0,
    stride_variability: float = 0.02,
    rest_s: float = 1.0,
    contact_delay_s: float = 0.0,
    heel_strike: float = 1.0,
) -> Walk:
    """Synthesize a walk; see the module docstring for the model. Raises ValueError.

    ``contact_delay_s`` (foot, shank; 0-0.2 s): time from the end of the terminal swing
    (the rising zero crossing of gy, and every gyroscope feature before it) to the ground
    contact, which stays the truth (``initial_contacts``) and starts the impact.
    ``heel_strike`` (lower back; 0-2): scale of the heel strike's transient at the trunk,
    0 for soft landings without one.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if not 20.0 <= rate_hz <= 2000.0:
        raise ValueError(f"rate_hz must be within 20..2000, got {rate_hz}")
    if not 20.0 <= cadence_spm <= 200.0:
        raise ValueError(f"cadence_spm must be within 20..200 strides/min, got {cadence_spm}")
    if noise < 0 or drift < 0 or not 0 <= stride_variability <= 0.2 or rest_s < 0:
        raise ValueError("noise, drift and rest_s must be >= 0, stride_variability 0..0.2")
    if not 0.0 <= heel_strike <= 2.0:
        raise ValueError(f"heel_strike must be within 0..2, got {heel_strike}")
    if not 0.0 <= contact_delay_s <= 0.2:
        raise ValueError(f"contact_delay_s must be within 0..0.2 s, got {contact_delay_s}")
    stride_s = 60.0 / cadence_spm
    if duration_s < 2 * rest_s + 2 * stride_s:
        raise ValueError(f"duration_s={duration_s} leaves less than two strides of walking")

    rng = np.random.default_rng(seed)
    left, right = _gait_events(rng, cadence_spm, duration_s, rest_s, stride_variability)

    oversample = int(np.ceil(_MIN_INTERNAL_HZ / rate_hz))
    n = round(duration_s * rate_hz)
    fine_hz = rate_hz * oversample
    # Internal samples grouped by output sample, centred on it.
    t = (np.arange(n * oversample) - (oversample - 1) / 2) / fine_hz
    scale = (cadence_spm / _REF_CADENCE) ** 0.7
    jitter = 2.0 * stride_variability

    if placement == "lower_back":
        fine = _lower_back(t, left, right, scale, jitter, rng, heel_strike)
        ic, ic_side = _merge(left.ic, right.ic)
        fc, fc_side = _merge(left.fc, right.fc)
    else:
        fine = _limb(placement, t, fine_hz, left, scale, jitter, rng, contact_delay_s)
        ic, ic_side = left.ic, np.full(len(left.ic), "left")
        fc, fc_side = left.fc, np.full(len(left.fc), "left")

    samples = fine.reshape(n, oversample, 6).mean(axis=1)
    samples = _sensor_errors(samples, rate_hz, noise, drift, rng)
    return Walk(
        samples=samples,
        rate_hz=float(rate_hz),
        placement=placement,
        initial_contacts=ic,
        final_contacts=fc,
        side=ic_side,
        final_side=fc_side,
        cadence_spm=float(cadence_spm),
    )


def _gait_events(
    rng: np.random.Generator, cadence: float, duration: float, rest: float, cv: float
) -> tuple[_Foot, _Foot]:
    stride = 60.0 / cadence
    stance0 = float(np.clip(0.62 - 0.0007 * (cadence - 40.0), 0.55, 0.66))
    k = int(duration / stride) + 3
    strides = stride * _jitter(rng, k, cv)
    stance = np.clip(stance0 + 0.5 * cv * rng.standard_normal((2, k)), 0.52, 0.7)
    half = 0.5 * _jitter(rng, k, 0.5 * cv)

    # Heel-off starts ~0.25 stride before toe-off and loading ends ~0.15 after contact:
    # both stay inside the walking part, so the rests are truly still.
    first_fc = rest + 0.3 * stride
    onsets = np.concatenate(([0.0], np.cumsum(strides[:-1])))
    ic_l = first_fc + (1.0 - stance[0, 0]) * strides[0] + onsets
    fc_l = np.concatenate(([first_fc], ic_l[:-1] + stance[0, :-1] * strides[:-1]))
    ic_r = ic_l + half * strides
    fc_r = ic_r - (1.0 - stance[1]) * strides
    end = duration - rest - 0.2 * stride
    return (
        _Foot(ic_l[ic_l <= end], fc_l[ic_l <= end], strides[ic_l <= end]),
        _Foot(ic_r[ic_r <= end], fc_r[ic_r <= end], strides[ic_r <= end]),
    )


def _jitter(rng: np.random.Generator, n: int, level: float) -> np.ndarray:
    """Factors 1 + level·ε, ε standard normal clipped to ±3."""
    return 1.0 + level * np.clip(rng.standard_normal(n), -3, 3)


def _merge(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    times = np.concatenate((a, b))
    side = np.concatenate((np.full(len(a), "left"), np.full(len(b), "right")))
    order = np.argsort(times, kind="stable")
    return times[order], side[order]


def _curve(
    t: np.ndarray,
    keypoints: tuple[tuple[str, float, float], ...],
    events: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> np.ndarray:
    """PCHIP through the keypoints of every event; flat zero outside.

    `events` maps an event name to (times, local stride durations, value factors).
    """
    knot_t = [t[:1] - 1.0, t[-1:] + 1.0]
    knot_v = [np.zeros(1), np.zeros(1)]
    for name, offset, value in keypoints:
        times, strides, factors = events[name]
        knot_t.append(times + offset * strides)
        knot_v.append(value * factors)
    kt = np.concatenate(knot_t)
    kv = np.concatenate(knot_v)
    order = np.argsort(kt, kind="stable")
    kt, kv = kt[order], kv[order]
    keep = np.concatenate(([True], np.diff(kt) > 1e-9))
    return _pchip(kt[keep], kv[keep], t)


def _pchip(xk: np.ndarray, yk: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson monotone cubic: no overshoot, extrema only on knots."""
    h = np.diff(xk)
    secant = np.diff(yk) / h
    slope = np.zeros_like(yk)
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    same_sign = secant[:-1] * secant[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / secant[:-1] + w2 / secant[1:])
    slope[1:-1] = np.where(same_sign, harmonic, 0.0)
    i = np.clip(np.searchsorted(xk, x, side="right") - 1, 0, len(xk) - 2)
    s = (x - xk[i]) / h[i]
    s2, s3 = s * s, s * s * s
    return (
        (2 * s3 - 3 * s2 + 1) * yk[i]
        + (s3 - 2 * s2 + s) * h[i] * slope[i]
        + (-2 * s3 + 3 * s2) * yk[i + 1]
        + (s3 - s2) * h[i] * slope[i + 1]
    )


def _balance(x: np.ndarray, t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rescale the negative part between consecutive edges so each window integrates to 0.

    Edges must fall where x >= 0, so the rescaling leaves x continuous.
    """
    bounds = np.searchsorted(t, edges)
    bounds = np.unique(np.concatenate(([0], bounds[(bounds > 0) & (bounds < len(t))])))
    pos = np.add.reduceat(np.where(x > 0, x, 0.0), bounds)
    neg = np.add.reduceat(np.where(x < 0, -x, 0.0), bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(neg > 0, pos / neg, 1.0)
    window = np.searchsorted(bounds, np.arange(len(t)), side="right") - 1
    return np.where(x < 0, x * factor[window], x)


def _impacts(t: np.ndarray, ics: np.ndarray, amp: np.ndarray, freq: float, decay: float):
    out = np.zeros_like(t)
    span = 6 * decay
    for onset, a in zip(ics + _IMPACT_DELAY_S, amp, strict=True):
        lo, hi = np.searchsorted(t, (onset, onset + span))
        u = t[lo:hi] - onset
        out[lo:hi] += a * np.exp(-u / decay) * np.sin(2 * np.pi * freq * u)
    return out


def _limb(
    placement: str,
    t: np.ndarray,
    fine_hz: float,
    foot: _Foot,
    scale: float,
    jitter: float,
    rng: np.random.Generator,
    contact_delay: float = 0.0,
) -> np.ndarray:
    ic_factor = scale * _jitter(rng, len(foot.ic), jitter)
    events = {
        "ic": (foot.ic, foot.stride, ic_factor),
        "fc": (foot.fc, foot.stride, scale * _jitter(rng, len(foot.fc), jitter)),
        # The end of the terminal swing: the gyroscope's keypoints up to the IC.
        "zc": (foot.ic - contact_delay, foot.stride, ic_factor),
    }
    is_foot = placement == "foot"
    gy_k, gx_k, gz_k, ay_k, vf_k, vu_k = (
        (_FOOT_GY, _FOOT_GX, _FOOT_GZ, _FOOT_AY, _FOOT_VF, _FOOT_VU)
        if is_foot
        else (_SHANK_GY, _SHANK_GX, _SHANK_GZ, _SHANK_AY, _SHANK_VF, _SHANK_VU)
    )
    # The shank's sharp gy peak at IC is the heel strike itself (Salarian): it stays on
    # the contact; the foot's zero crossing at IC is the end of its swing.
    gy_k, gx_k, gz_k = (_swing_end(keys, is_foot) for keys in (gy_k, gx_k, gz_k))
    midstance = foot.ic + 0.3 * foot.stride
    gy = _balance(_curve(t, gy_k, events) * _DEG, t, midstance)
    gx = _curve(t, gx_k, events) * _DEG
    gz = _curve(t, gz_k, events) * _DEG
    vf = _curve(t, vf_k, events)
    vu = _balance(_curve(t, vu_k, events), t, midstance)

    dt = 1.0 / fine_hz
    a_fwd = np.gradient(vf, dt)
    impact_amp, freq, decay = _FOOT_IMPACT if is_foot else _SHANK_IMPACT
    amp = impact_amp * scale**1.5 * _jitter(rng, len(foot.ic), jitter)
    impact = _impacts(t, foot.ic, amp, freq, decay)
    a_up = np.gradient(vu, dt) + impact
    a_fwd -= 0.3 * impact

    pitch = np.cumsum(gy) * dt
    cos_p, sin_p = np.cos(pitch), np.sin(pitch)
    ax = a_fwd * cos_p - (a_up + GRAVITY) * sin_p
    az = a_fwd * sin_p + (a_up + GRAVITY) * cos_p
    if is_foot:
        # Rigid rotation about the toe (heel-off) and the heel (loading): α×r + ω×(ω×r).
        rx, rz = np.zeros_like(t), np.zeros_like(t)
        for starts, stops, (px, pz) in (
            (foot.fc - 0.24 * foot.stride, foot.fc, _FOOT_FROM_TOE),
            (foot.ic, foot.ic + 0.13 * foot.stride, _FOOT_FROM_HEEL),
        ):
            inside = _inside(t, starts, stops)
            rx[inside], rz[inside] = px, pz
        alpha = np.gradient(gy, dt)
        ax += alpha * rz - gy**2 * rx
        az += -alpha * rx - gy**2 * rz
    ay = _curve(t, ay_k, events)
    return np.column_stack((ax, ay, az, gx, gy, gz))


def _swing_end(keypoints: tuple, with_contact: bool) -> tuple:
    """Gyroscope keypoints before the IC (and at it, ``with_contact``) belong to the end
    of the swing ("zc"), which precedes the contact by the contact delay; those after it
    stay on the contact."""
    return tuple(
        ("zc" if name == "ic" and (off < 0.0 or (with_contact and off == 0.0)) else name,
         off, v)
        for name, off, v in keypoints
    )  # fmt: skip


def _inside(t: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Mask of t inside any [start, stop) interval (intervals sorted, non-overlapping)."""
    i = np.searchsorted(starts, t, side="right") - 1
    ok = i >= 0
    out = np.zeros(len(t), dtype=bool)
    out[ok] = t[ok] < stops[i[ok]]
    return out


def _lower_back(
    t: np.ndarray,
    left: _Foot,
    right: _Foot,
    scale: float,
    jitter: float,
    rng: np.random.Generator,
    heel_strike: float,
) -> np.ndarray:
    ic, side = _merge(left.ic, right.ic)
    stride = np.concatenate((left.stride, right.stride))[
        np.argsort(np.concatenate((left.ic, right.ic)), kind="stable")
    ]
    # The contralateral toe-off after each IC: the next FC of the other foot.
    fc_other = np.where(
        side == "left",
        _next_after(right.fc, ic, ic + 0.1 * stride),
        _next_after(left.fc, ic, ic + 0.1 * stride),
    )
    sign = np.where(side == "left", 1.0, -1.0)
    base = scale * _jitter(rng, len(ic), jitter)
    columns = []
    for name, (keys, sided, edge) in _BACK.items():
        f = base * sign if sided else base
        x = _curve(t, keys, {"ic": (ic, stride, f), "cfc": (fc_other, stride, f)})
        # Sided channels integrate to zero over a stride (left IC to left IC), others per step.
        edges = (ic + edge * stride)[side == "left"] if sided else ic + edge * stride
        x = _balance(x, t, edges)
        columns.append(x * _DEG if name.startswith("g") else x)
    if heel_strike > 0.0:
        amp, freq, decay = _BACK_IMPACT
        columns[2] = columns[2] + _impacts(t, ic, heel_strike * amp * base, freq, decay)
    columns[2] = columns[2] + GRAVITY
    return np.column_stack(columns)


def _next_after(candidates: np.ndarray, times: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    i = np.searchsorted(candidates, times, side="right")
    ok = i < len(candidates)
    out = fallback.copy()
    out[ok] = candidates[i[ok]]
    return out


def _sensor_errors(
    clean: np.ndarray, rate_hz: float, noise: float, drift: float, rng: np.random.Generator
) -> np.ndarray:
    n = len(clean)
    out = clean + noise * clean.std(axis=0) * rng.standard_normal(clean.shape)
    if drift > 0:
        t = np.arange(n) / rate_hz
        for channel in range(6):
            level = drift * (0.3 if channel < 3 else 0.03)
            periods = rng.uniform(20.0, 120.0, 3)
            phases = rng.uniform(0, 2 * np.pi, 3)
            wander = np.sin(2 * np.pi * t[:, None] / periods + phases).sum(axis=1) / 3
            out[:, channel] += level * (rng.standard_normal() + wander)
    return out


ACTIVITIES = ("standing", "sitting", "turning")
# Segment tilt from upright (pitch about y, degrees) while standing and sitting: the trunk
# leans back against a chair, the shank leans forward under the chair's edge.
_TILT_DEG = {
    "standing": {"foot": 0.0, "shank": 3.0, "lower_back": 8.0},
    "sitting": {"foot": 0.0, "shank": 15.0, "lower_back": -20.0},
}
_ACC_NOISE = 0.03  # m/s², white: a MEMS accelerometer at rest
_GYRO_NOISE = 0.005  # rad/s


def synthesize_rest(
    placement: str,
    rate_hz: float,
    duration_s: float,
    activity: str,
    *,
    seed: int = 0,
) -> Walk:
    """Nobody walks: standing, sitting, or turning on the spot; no gait events (empty truth).

    - standing: postural sway, a few tenths of a m/s² and hundredths of a rad/s at
      0.1-1 Hz, plus a weight shift (a slow 1 m/s² medio-lateral swing) every ~10 s;
    - sitting: the segment tilted as on a chair, sway halved, and a fidget every ~8 s
      (a 0.3 s bump of 1.5 m/s² up and 0.5 rad/s of pitch);
    - turning: standing, plus turns on the spot about the vertical, 180° in 2 s every 4 s
      (peak 3.1 rad/s), alternately left and right, pivoting without a step.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if activity not in ACTIVITIES:
        raise ValueError(f"activity must be one of {ACTIVITIES}, got {activity!r}")
    if not 20.0 <= rate_hz <= 2000.0 or duration_s <= 0:
        raise ValueError("rate_hz must be within 20..2000 and duration_s > 0")
    rng = np.random.default_rng(seed)
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    sway = 0.5 if activity == "sitting" else 1.0

    def slow(level: float) -> np.ndarray:
        f = rng.uniform(0.1, 1.0, 4)
        ph = rng.uniform(0, 2 * np.pi, 4)
        return level * np.sin(2 * np.pi * f[:, None] * t + ph[:, None]).sum(axis=0) / 2

    acc = np.stack([slow(0.15 * sway), slow(0.15 * sway), slow(0.1 * sway)], axis=1)
    gyro = np.stack([slow(0.03 * sway), slow(0.03 * sway), slow(0.02 * sway)], axis=1)
    if activity in ("standing", "turning"):
        for t0 in np.arange(rng.uniform(2, 6), duration_s - 3, 10.0):
            acc[:, 1] += (
                1.0
                * np.sin(np.pi * np.clip((t - t0) / 3.0, 0, 1)) ** 2
                * np.sign(rng.standard_normal())
            )
    if activity == "sitting":
        for t0 in np.arange(rng.uniform(2, 6), duration_s - 1, 8.0):
            bump = np.sin(np.pi * np.clip((t - t0) / 0.3, 0, 1)) ** 2
            acc[:, 2] += 1.5 * bump
            gyro[:, 1] += 0.5 * bump
    if activity == "turning":
        # Half-sine-squared yaw-rate bumps of peak pi rad/s over 2 s integrate to pi.
        for i, t0 in enumerate(np.arange(1.0, duration_s - 2.0, 4.0)):
            u = (t - t0) / 2.0
            inside = (u > 0) & (u < 1)
            gyro[inside, 2] += (1 if i % 2 == 0 else -1) * np.pi * np.sin(np.pi * u[inside]) ** 2
    tilt = np.radians(_TILT_DEG["sitting" if activity == "sitting" else "standing"][placement])
    gravity = GRAVITY * np.array([-np.sin(tilt), 0.0, np.cos(tilt)])
    samples = np.concatenate((acc + gravity, gyro), axis=1)
    samples[:, :3] += _ACC_NOISE * rng.standard_normal((n, 3))
    samples[:, 3:] += _GYRO_NOISE * rng.standard_normal((n, 3))
    empty = np.empty(0)
    return Walk(
        samples=samples,
        rate_hz=float(rate_hz),
        placement=placement,
        initial_contacts=empty,
        final_contacts=empty,
        side=np.empty(0, dtype="U5"),
        final_side=np.empty(0, dtype="U5"),
        cadence_spm=0.0,
    )
