"""Gait segmentation: gait events and cycles from one IMU (foot, shank or lower back).

``segment(samples, rate_hz, placement)`` for a recording, ``GaitStream`` for live data,
``StreamPool`` for one stream per device, ``warmup()`` at service start-up,
``supports(rate_hz, placement, channels)`` to ask before feeding a stream.
See docs/gait.md for the methods, the body frame and the cycles table.
"""

from .methods import PLACEMENTS
from .pool import StreamPool
from .stream import GaitResult, GaitStream, LateData, lookahead_s, normalize_cycles, segment
from .support import Support, supports
from .table import CYCLE_DTYPE, REASONS
from .warmup import warmup

__all__ = [
    "CYCLE_DTYPE",
    "PLACEMENTS",
    "REASONS",
    "GaitResult",
    "GaitStream",
    "LateData",
    "StreamPool",
    "Support",
    "lookahead_s",
    "normalize_cycles",
    "segment",
    "supports",
    "warmup",
]
