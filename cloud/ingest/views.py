"""Thin HTTP views of the ingest service."""

from __future__ import annotations

from aiohttp import web

from cloud.ingest.keys import CONSUMER, PIPELINE


async def health(request: web.Request) -> web.Response:
    consumer = request.app[CONSUMER]
    ok = consumer.link.connected
    return web.json_response(
        {"status": "ok" if ok else "degraded", "mqtt_connected": ok},
        status=200 if ok else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    consumer = request.app[CONSUMER]
    stats = request.app[PIPELINE].snapshot()
    stats.update(backlog=consumer.backlog, queue_full=consumer.queue_full)
    return web.json_response(stats)
