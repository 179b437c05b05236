"""The ingest's InfluxDB writes, observed: latency and size for /metrics, cycles per
placement, and what was written for the live stream. It wraps the writer the pipeline is
given, so the pipeline itself needs no hook for any of it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable

from gaitlink.cloud.api.lines import LineError, parse_line
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
        for line in body.split("\n"):
            if line.startswith("gait_cycle,"):
                try:
                    placement = parse_line(line).tags.get("placement", "")
                except LineError:
                    continue
                self.cycles_by_placement[placement] += 1
