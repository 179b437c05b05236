"""Compile (or load from numba's cache) every kernel before the first real block arrives."""

import numpy as np

from .methods import PLACEMENTS
from .stream import GaitStream, segment


def warmup() -> None:
    """Run each placement once, batch and streaming, on a short synthetic signal."""
    rate = 100.0
    t = np.arange(400) / rate
    x = np.zeros((t.size, 6))
    x[:, 2] = 9.81 + 2.0 * np.sin(2 * np.pi * 2.0 * t)
    x[:, 4] = -4.0 * np.sin(2 * np.pi * 1.0 * t)
    for placement in PLACEMENTS:
        segment(x, rate, placement, gaps=[200])
        stream = GaitStream(rate, placement)
        stream.push(x[:200], quality=np.zeros(200, np.uint16))
        stream.push(x[200:], gap_before=True)
