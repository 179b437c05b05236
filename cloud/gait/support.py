"""Which streams the gait methods can segment, asked before a stream is fed.

The ingest stores every frame raw; it feeds the gait stage only streams this says yes to,
and records the reason once per device otherwise, instead of catching the ValueError a
`GaitStream` raises for a stream it cannot use.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from .methods import MAX_RATE_HZ, MIN_RATE_HZ, PLACEMENTS, SETTINGS


class Support(NamedTuple):
    """Whether the methods can segment a stream; if not, a short `reason` and a `detail`."""

    ok: bool
    reason: str = ""  # "placement", "rate" or "channels"
    detail: str = ""


# The channels each placement's method reads (the kernels take all six today).
NEEDED_CHANNELS = {placement: frozenset({"acc", "gyro"}) for placement in PLACEMENTS}


def supports(rate_hz: float, placement: str, channels: Collection[str]) -> Support:
    """Can a stream at `rate_hz` from `placement`, with these channels ("acc", "gyro"),
    be segmented?"""
    if placement not in SETTINGS:
        return Support(False, "placement", f"no gait method for placement {placement!r}")
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        detail = f"{rate_hz:g} Hz is outside {MIN_RATE_HZ:g}–{MAX_RATE_HZ:g} Hz"
        return Support(False, "rate", detail)
    missing = NEEDED_CHANNELS[placement] - set(channels)
    if missing:
        return Support(False, "channels", f"{placement} needs {', '.join(sorted(missing))}")
    return Support(True)
