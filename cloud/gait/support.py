"""Which streams the gait methods can segment, asked before a stream is fed.

The ingest stores every frame raw; it feeds the gait stage only streams this says yes to,
and records the reason once per device otherwise, instead of catching the ValueError a
`GaitStream` raises for a stream it cannot use.

Per placement (docs/gait.md, "What each placement supports"): every placement runs at
20–1000 Hz; the foot and the shank need the accelerometer and the gyroscope (the swing is
found in gy, the contact in the acceleration); the lower back needs the accelerometer
only, and takes accelerometer-only samples, (n, 3) (its gyroscope check, no IC while the
trunk pitches, is then off).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from .methods import ACC, GYRO, MAX_RATE_HZ, MIN_RATE_HZ, NEED_WHY, NEEDS, SETTINGS, channel_mask


class Support(NamedTuple):
    """Whether the methods can segment a stream; if not, a short `reason` and a `detail`.
    When they can, `detail` may say what to expect (e.g. timing at a low rate)."""

    ok: bool
    reason: str = ""  # "placement", "rate" or "channels"
    detail: str = ""


_NAMES = {ACC: "acc", GYRO: "gyro"}
# The channels each placement's method reads, by name.
NEEDED_CHANNELS = {
    placement: frozenset(name for bit, name in _NAMES.items() if need & bit)
    for placement, need in NEEDS.items()
}


def supports(rate_hz: float, placement: str, channels: Collection[str] | int) -> Support:
    """Can a stream at `rate_hz` from `placement`, with these channels, be segmented?

    ``channels``: names ("acc", "gyro") or the frame header's bit mask (0x01 acc,
    0x02 gyro). Never raises: anything it cannot read is a "no" with the reason.
    """
    if not isinstance(placement, str) or placement not in SETTINGS:
        return Support(False, "placement", f"no gait method for placement {placement!r}")
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        return Support(False, "rate", f"rate {rate_hz!r} is not a number")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:  # also False for NaN
        detail = f"{rate:g} Hz is outside {MIN_RATE_HZ:g}–{MAX_RATE_HZ:g} Hz"
        return Support(False, "rate", detail)
    try:
        mask = channel_mask(channels)
    except ValueError as e:
        return Support(False, "channels", str(e))
    missing = NEEDS[placement] & ~mask
    if missing:
        names = ", ".join(name for bit, name in _NAMES.items() if missing & bit)
        return Support(False, "channels", f"{placement} needs {names}: {NEED_WHY[placement]}")
    notes = []
    if not mask & GYRO:
        notes.append(
            "without the gyroscope, loading peaks while the trunk pitches (standing up, "
            "sitting down, bending) are not told from steps"
        )
    if rate < 100.0:
        half = 500.0 / rate
        notes.append(f"at {rate:g} Hz events are located to about half a sample ({half:.0f} ms)")
    if rate > 400.0:
        notes.append("state per stream grows with the rate (~150 KB at 1000 Hz)")
    return Support(True, "", "; ".join(notes))
