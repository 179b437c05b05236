"""Thin HTTP views of the ingest service."""

from __future__ import annotations

from aiohttp import web

from gaitlink.cloud.ingest.keys import CONSUMER, PIPELINE, RUNNER


async def health(request: web.Request) -> web.Response:
    """200 when the ingest moves data; 503, with the reasons, when it does not."""
    problems = []
    if not request.app[CONSUMER].link.connected:
        problems.append("not connected to the MQTT broker")
    if request.app[RUNNER].done():
        problems.append("the ingest loop has stopped")
    stalled = request.app[PIPELINE].influx_stalled
    if stalled:
        problems.append(f"InfluxDB refuses writes: {stalled}")
    body = {"status": "degraded" if problems else "ok", "problems": problems}
    return web.json_response(body, status=503 if problems else 200)


async def metrics(request: web.Request) -> web.Response:
    consumer = request.app[CONSUMER]
    stats = request.app[PIPELINE].snapshot()
    stats.update(backlog=consumer.backlog, queue_full=consumer.queue_full)
    return web.json_response(stats)
