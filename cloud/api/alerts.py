"""Alerts the written lines cannot show: dead letters and InfluxDB stalls.

Data-quality incidents (gaps, seq jumps, late frames) are `ingest_quality` points and
reach the `alerts` channel as they are written; a dead letter or a stall writes nothing,
so this task watches the pipeline's counters once a second and reports what changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from gaitlink.cloud.api.stream import StreamHub

WATCH_PERIOD_S = 1.0


async def watch_alerts(pipeline, hub: StreamHub, period_s: float = WATCH_PERIOD_S) -> None:
    seen = dict(_dead_letters(pipeline.snapshot()))
    stalled: str | None = None
    while True:
        await asyncio.sleep(period_s)
        snapshot = pipeline.snapshot()
        for reason, count in _dead_letters(snapshot).items():
            new = count - seen.get(reason, 0)
            if new > 0:
                hub.alert({"kind": "dead_letter", "reason": reason, "count": new})
            seen[reason] = count
        now = snapshot.get("influx_stalled")
        if bool(now) != bool(stalled):
            if now:
                hub.alert({"kind": "influx_stalled", "detail": str(now)})
            else:
                hub.alert({"kind": "influx_recovered"})
        stalled = now


def _dead_letters(snapshot: Mapping) -> dict[str, int]:
    return dict(snapshot.get("dead_letters_by_reason", {}))
