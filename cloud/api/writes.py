"""The ingest's InfluxDB writes, observed: latency and size for /metrics, cycles per
placement, and what was written for the live stream. It wraps the writer the pipeline is
given, so the pipeline itself needs no hook for any of it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable

from gaitlink.cloud.api.lines import LineError, tags_of
from gaitlink.cloud.api.stream import StreamHub
from gaitlink.cloud.influx.client import InfluxError

Write = Callable[[str], Awaitable[None]]


class ObservedWriter:
    def __init__(self, write: Write, hub: StreamHub, metrics) -> None:
        self._write = write
        self._hub = hub
        self._metrics = metrics
        self.cycles_by_placement: Counter[str] = Counter()

    async def __call__(self, body: str) -> None:
        lines = body.count("\n") + 1
        started = time.perf_counter()
        try:
            await self._write(body)
        except InfluxError:
            self._metrics.write_failed()
            raise
        self._metrics.written(time.perf_counter() - started, lines)
        if "gait_cycle," in body:
            self._count_cycles(body)
        self._hub.written(body)

    def _count_cycles(self, body: str) -> None:
        # Found by str.find, not by splitting the body: a batch is thousands of imu lines
        # and a handful of cycles, and this runs on the event loop for every write.
        at = -1
        while (at := body.find("gait_cycle,", at + 1)) != -1:
            if at and body[at - 1] != "\n":
                continue  # inside another line (a string field), not a measurement
            end = body.find("\n", at)
            try:
                tags = tags_of(body[at:] if end == -1 else body[at:end])
            except LineError:
                continue
            self.cycles_by_placement[tags.get("placement", "")] += 1
