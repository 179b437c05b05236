"""One `GaitStream` per device, for the ingest."""

from __future__ import annotations

import numpy as np

from .methods import ACC, GYRO
from .stream import GaitResult, GaitStream


class StreamPool:
    """Keeps one stream per device id; a new (rate, placement, 3 or 6 columns) for a device
    starts a new one.

    Not thread-safe: keep one pool per worker, or route a device always to the same worker.
    """

    def __init__(self) -> None:
        self._streams: dict[str, GaitStream] = {}

    def push(
        self,
        device_id: str,
        samples: np.ndarray,
        rate_hz: float,
        placement: str,
        quality: np.ndarray | None = None,
        t0: float | None = None,
        gap_before: bool = False,
    ) -> GaitResult:
        stream = self._streams.get(device_id)
        cols = np.shape(samples)[1] if np.ndim(samples) == 2 else 6
        if (
            stream is None
            or stream.rate_hz != rate_hz
            or stream.placement != placement
            or stream.n_columns != cols
        ):
            channels = ACC if cols == 3 else ACC | GYRO
            stream = self._streams[device_id] = GaitStream(rate_hz, placement, channels)
        return stream.push(samples, quality=quality, t0=t0, gap_before=gap_before)

    def stream(self, device_id: str) -> GaitStream | None:
        return self._streams.get(device_id)

    def drop(self, device_id: str) -> None:
        """Forget a device (it went offline or rebooted); its open cycles are discarded."""
        self._streams.pop(device_id, None)

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._streams
