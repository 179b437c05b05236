"""Per-placement method settings, scaled to the sampling rate.

Every window is defined in seconds here and turned into samples for the kernels, so the
same method runs from 20 to 1000 Hz. See docs/gait.md for where each value comes from.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import _layout as k

PLACEMENTS = ("foot", "shank", "lower_back")
MIN_RATE_HZ = 20.0
MAX_RATE_HZ = 1000.0
MIN_CYCLE_S = 0.4
MAX_CYCLE_S = 2.5
BLOCK = 64  # samples the kernels take at a time at <= 100 Hz; the rings hold history plus
# one block, so faster rates take blocks of the same duration (>= 16 samples) to keep the
# rings small; the block size never changes results, only memory and speed.


@dataclass(frozen=True, slots=True)
class MethodSettings:
    """One placement's method; durations in seconds."""

    method: int  # METHOD_GYRO (foot, shank) or METHOD_ACC (lower back)
    sigma1_s: float  # Gaussian smoothing of the detection signal
    sigma2_s: float  # derivative-of-Gaussian of az (lower back only)
    floor: float  # threshold floor: rad/s (gyro) or m/s² above baseline (acc)
    thr_frac: float  # threshold = max(floor, thr_frac × median of the last 5 peaks)
    refr_min_s: float  # refractory period = max(refr_min_s, refr_frac × median interval)
    refr_frac: float
    confirm_s: float  # lower back: a peak stands if no higher one follows this soon
    fc_window_s: float  # foot/shank: longest push-off-to-swing-onset distance
    ic_window_s: float = 0.0  # foot/shank: impact search after the terminal-swing crossing
    ic_refine_s: float = 0.0  # lower back: IC search before the loading peak
    fc_refine_s: float = 0.0  # foot/shank: raw-signal search around the smoothed FC
    side_window_s: float = 0.0  # lower back: ay averaged over this either side of an IC
    side_gap_s: float = 0.0  # lower back: the after-IC window starts this late
    impact_latency_s: float = 0.0  # foot/shank: the impact's jolt lags the contact by this
    impact_significance: float = 0.0  # foot/shank: jolt / median jump, at least
    gate_prev_s: float = 0.0  # lower back: walking gate, see _trunk._confirm_ic_acc
    gate_next_s: float = 0.0
    ic_window_frac: float = 0.0  # foot/shank: impact search <= this x median stride
    impact_rise_s: float = 0.0  # an impact builds to its largest jump within this
    impact_jump_s: float = 0.0  # the jumps of the acceleration span this (0: one sample)
    trough_window_s: float = 0.0  # lower back: a peak's height is also taken over the
    # lowest vertical in this window before it (the preceding single support)
    posture_deg: float = 0.0  # lower back: a trunk pitch change larger than this around a
    # step candidate makes it a postural transition (0: not checked)
    posture_before_s: float = 0.0  # ... taken from this long before the IC
    posture_after_s: float = 0.0  # ... to this long after it
    gyro_ic: bool = False  # shank: without an impact, the first minimum of -gy after the swing


# The contact's jolt in the acceleration (foot, shank and lower back alike): the largest
# sample-to-sample jump, if it exceeds 3x the median jump, built up within 30 ms; the
# contact precedes its start by 10 ms (docs/gait.md, Foot).
_IMPACT = {
    "impact_latency_s": 0.01,
    "impact_significance": 3.0,
    "impact_rise_s": 0.03,
}

_LIMB = {
    "method": k.METHOD_GYRO,
    "sigma2_s": 0.0,
    "floor": 0.8,  # rad/s: below any swing of real walking, far above sensor noise
    "thr_frac": 0.25,
    "refr_min_s": 0.25,
    "refr_frac": 0.5,
    "confirm_s": 0.0,
    "fc_window_s": 0.4,
    "fc_refine_s": 0.06,
    # The contact follows the terminal-swing zero crossing by 0-120 ms (issue 12: ~0 ms on
    # the gaitmap recording, 55-100 ms on another, tens of ms between people), and its
    # jolt takes a few tens of ms to build: search a quarter of a second for the impact.
    "ic_window_s": 0.25,
    "ic_window_frac": 0.3,  # ... but at most 30 % of the median stride (fast walking)
    **_IMPACT,
}

SETTINGS = {
    # Foot: the IC is the steep zero crossing after the swing, which light smoothing
    # barely moves.
    "foot": MethodSettings(sigma1_s=0.015, **_LIMB),
    # Shank: the IC is a sharp minimum; smooth less so it is not dragged late.
    "shank": MethodSettings(sigma1_s=0.008, gyro_ic=True, **_LIMB),
    # Lower back (McCamley): a gaus1 CWT at scale s is a Gaussian of sigma = s / sqrt(2)
    # samples; scale 9 at 100 Hz (64 ms) flattens the steps of fast walking (280 steps/min
    # in the walker), so we use 45 ms (scale ~6.4 at 100 Hz), kept in seconds across rates.
    "lower_back": MethodSettings(
        method=k.METHOD_ACC,
        sigma1_s=0.045,
        sigma2_s=0.02,
        floor=0.3,  # m/s² above the baseline
        thr_frac=0.4,
        refr_min_s=0.18,
        refr_frac=0.5,
        confirm_s=0.18,
        fc_window_s=0.0,
        ic_refine_s=0.15,
        side_window_s=0.3,  # half a step at 100 steps/min
        side_gap_s=0.05,  # skip the heel-strike transient
        gate_prev_s=2.0,  # walking: a step within 2 s before (30 steps/min, the slowest)
        gate_next_s=0.4,  # ... or within 0.4 s after (what the 1 s look-ahead allows)
        **_IMPACT,  # the heel strike's jolt, searched for before the loading peak ...
        impact_jump_s=0.01,  # ... as jumps over 10 ms: a single sample's noise at high
        # rates would drown the trunk's smaller jolt (one sample at 100 Hz)
        trough_window_s=0.5,  # half the longest step of walking (1 s, 60 steps/min): the
        # trough of single support before a loading peak lies within it
        posture_deg=25.0,  # the trunk pitches by a few degrees in a step of walking, by
        # 30-50 deg when standing up, sitting down or bending (docs/gait.md)
        posture_before_s=0.7,  # the step that ends at the contact (0.7 s: 85 steps/min) ...
        posture_after_s=0.2,  # ... and its loading response; data the side already waits for
    ),
}


def check_placement(placement: str) -> str:
    if not isinstance(placement, str) or placement not in SETTINGS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}; got {placement!r}")
    return placement


def check_rate(rate_hz: float) -> float:
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        raise ValueError(f"rate_hz must be a number in 20–1000 Hz; got {rate_hz!r}") from None
    if not (MIN_RATE_HZ <= rate <= MAX_RATE_HZ):
        raise ValueError(f"rate_hz must be in 20–1000 Hz; got {rate_hz!r}")
    return rate


ACC = 0x01  # channel bits, as in the frame header (protocol §2.2)
GYRO = 0x02
_CHANNEL_NAMES = {"acc": ACC, "gyro": GYRO}


def channel_mask(channels) -> int:
    """Channels as a bit mask: an int (ACC = 1 | GYRO = 2, as the frame header says) or
    names ("acc", "gyro")."""
    if isinstance(channels, bool):
        raise ValueError(f"channels must be a bit mask (1, 2, 3) or names; got {channels!r}")
    if isinstance(channels, int):
        if channels in (ACC, GYRO, ACC | GYRO):
            return channels
        raise ValueError(f"channels must be 1 (acc), 2 (gyro) or 3 (both); got {channels}")
    try:
        names = (channels,) if isinstance(channels, str) else tuple(channels)
        mask = 0
        for name in names:
            mask |= _CHANNEL_NAMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"channels are 'acc' and/or 'gyro'; got {channels!r}") from None
    if not mask:
        raise ValueError("channels: none given")
    return mask


# What each method reads: the gyroscope's sagittal rate finds the swing of a limb, the
# accelerometer its impact (foot, shank) or the trunk's vertical bounce (lower back).
NEEDS = {"foot": ACC | GYRO, "shank": ACC | GYRO, "lower_back": ACC}
NEED_WHY = {
    "foot": "the swing is found in gy, the contact in the acceleration",
    "shank": "the swing is found in gy, the contact in the acceleration",
    "lower_back": "steps are found in the vertical acceleration",
}


def _gaussian(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    h = max(1, math.ceil(3.0 * sigma))
    u = np.arange(-h, h + 1, dtype=np.float64)
    g = np.exp(-0.5 * (u / sigma) ** 2)
    return u, g / g.sum()


def smoothing_kernel(sigma_samples: float) -> np.ndarray:
    """Normalised Gaussian, truncated at 3 sigma (odd length, centred)."""
    return _gaussian(sigma_samples)[1]


def derivative_kernel(sigma_samples: float) -> np.ndarray:
    """Derivative-of-Gaussian weights: sum(w[j] * x[k - h + j]) = d/dt (G * x) at k, per sample."""
    u, g = _gaussian(sigma_samples)
    return u / sigma_samples**2 * g


@dataclass(frozen=True)
class Plan:
    """Everything the kernels need for one (placement, rate): parameters, filters, sizes."""

    placement: str
    rate_hz: float
    par: np.ndarray  # float parameters, indexed by _layout.P_*
    ipar: np.ndarray  # integer parameters (int64), indexed by _layout.IP_*
    w1: np.ndarray
    w2: np.ndarray
    ring: int  # capacity of the raw-sample ring, samples
    sig_ring: int  # capacity of the smoothed-signal ring (lower back: the trough window)
    lookahead_s: float  # data time after an event before it is final
    refr_min: int
    n_columns: int  # 6, or 3 (accelerometer only)


def make_plan(placement: str, rate_hz: float, n_columns: int = 6) -> Plan:
    """The kernels' plan; ``n_columns`` 6 (ax..gz) or 3 (ax, ay, az: accelerometer only)."""
    s = SETTINGS[check_placement(placement)]
    rate = check_rate(rate_hz)
    if n_columns not in (3, 6):
        raise ValueError(
            f"samples must have shape (n, 6): ax, ay, az, gx, gy, gz, or (n, 3): ax, ay, az; "
            f"got {n_columns} columns"
        )
    if n_columns == 3 and NEEDS[placement] & GYRO:
        raise ValueError(
            f"{placement} needs the gyroscope: {NEED_WHY[placement]}; "
            "accelerometer-only samples are segmented for the lower back only"
        )
    w1 = smoothing_kernel(s.sigma1_s * rate)
    h1 = w1.size // 2
    if s.method == k.METHOD_ACC:
        w2 = derivative_kernel(s.sigma2_s * rate)
        h2 = w2.size // 2
    else:
        w2 = np.zeros(1)
        h2 = 0
    maxcyc = math.ceil(MAX_CYCLE_S * rate)
    confirm = math.ceil(s.confirm_s * rate)
    lookahead = h1 + confirm + math.ceil(s.ic_window_s * rate) + 2
    # A held lower-back step is decided when the next one is confirmed: up to the gate's
    # 0.5 s, plus that step's peak lag (<= the IC search before it). It reads no samples
    # then (it starts a bout), so the rings do not grow by this wait.
    gate = math.ceil(s.gate_next_s * rate) + math.ceil(s.ic_refine_s * rate) if s.gate_next_s else 0
    lookback = math.ceil(s.ic_refine_s * rate)  # lower back: IC before the detected peak
    block = max(16, min(BLOCK, math.floor(BLOCK * 100.0 / rate)))
    # The raw ring holds the longest cycle (plus a sample either side for the
    # normalisation), measured back from the latest sample an event may still be decided
    # at (look-ahead, look-back, one block). The lower back computes its derivative
    # filter from raw samples on demand, down to h2 before the step it searches, which
    # may start up to a maximal cycle before the IC: h2 more samples. 8: slack.
    ring = maxcyc + lookahead + lookback + h2 + 8 + block
    par = np.zeros(k.N_PAR)
    ipar = np.zeros(k.N_IPAR, dtype=np.int64)
    par[k.P_RATE] = rate
    ipar[k.IP_H1] = h1
    ipar[k.IP_H2] = h2
    ipar[k.IP_MAXCYC] = maxcyc
    ipar[k.IP_REFR_MIN] = math.ceil(s.refr_min_s * rate)
    par[k.P_REFR_FRAC] = s.refr_frac
    par[k.P_FLOOR] = s.floor
    par[k.P_THR_FRAC] = s.thr_frac
    ipar[k.IP_CONFIRM] = confirm
    ipar[k.IP_FCWIN] = math.ceil(s.fc_window_s * rate)
    ipar[k.IP_METHOD] = s.method
    par[k.P_MINDUR] = MIN_CYCLE_S
    par[k.P_MAXDUR] = MAX_CYCLE_S
    par[k.P_OUTLIER] = 0.35
    par[k.P_BASE_ALPHA] = 1.0 / (2.0 * rate)
    ipar[k.IP_BREAK] = 2 * maxcyc
    ipar[k.IP_BLOCK] = block
    ipar[k.IP_ICWIN] = math.ceil(s.ic_window_s * rate)
    ipar[k.IP_ICREF] = math.ceil(s.ic_refine_s * rate)
    ipar[k.IP_FCREF] = math.ceil(s.fc_refine_s * rate)
    ipar[k.IP_SIDEWIN] = round(s.side_window_s * rate)
    ipar[k.IP_SIDEGAP] = round(s.side_gap_s * rate)
    par[k.P_IMPLAT] = s.impact_latency_s * rate
    par[k.P_IMPSIG] = s.impact_significance
    ipar[k.IP_GYROIC] = 1 if s.gyro_ic else 0
    ipar[k.IP_IMPRISE] = math.ceil(s.impact_rise_s * rate)
    par[k.P_ICFRAC] = s.ic_window_frac
    ipar[k.IP_NCH] = n_columns
    ipar[k.IP_JUMP] = max(1, round(s.impact_jump_s * rate))
    ipar[k.IP_TROUGH] = math.ceil(s.trough_window_s * rate)
    par[k.P_GATEPREV] = s.gate_prev_s * rate
    par[k.P_GATENEXT] = s.gate_next_s * rate
    par[k.P_POSTURE] = math.radians(s.posture_deg) * rate
    ipar[k.IP_POSTBACK] = round(s.posture_before_s * rate)
    ipar[k.IP_POSTFWD] = round(s.posture_after_s * rate)
    return Plan(
        placement=placement,
        rate_hz=rate,
        par=par,
        ipar=ipar,
        w1=w1,
        w2=w2,
        ring=ring,
        # Foot/shank look back into the smoothed signal for the push-off minimum: same span.
        # The lower back keeps its smoothed vertical for the trough window before a peak,
        # which is read when the peak is confirmed (IP_CONFIRM + 1 samples later).
        sig_ring=ring if s.method == k.METHOD_GYRO else int(ipar[k.IP_TROUGH] + confirm) + 3,
        lookahead_s=(lookahead + gate) / rate,
        refr_min=int(ipar[k.IP_REFR_MIN]),
        n_columns=n_columns,
    )
