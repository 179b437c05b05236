"""Thin views of the service itself: health, metrics, the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from gaitlink.cloud.api.metrics import CONTENT_TYPE
from gaitlink.cloud.api.models import Health
from gaitlink.cloud.api.openapi import document
from gaitlink.cloud.ingest.keys import CONSUMER, METRICS, PIPELINE, RUNNER, SETTINGS


async def health(request: web.Request, key: None) -> Health | web.Response:
    """200 when the ingest moves data; 503, with the reasons, when it does not."""
    problems = []
    if not request.app[CONSUMER].link.connected:
        problems.append("not connected to the MQTT broker")
    if request.app[RUNNER].done():
        problems.append("the ingest loop has stopped")
    stalled = request.app[PIPELINE].influx_stalled
    if stalled:
        problems.append(f"InfluxDB refuses writes: {stalled}")
    problems.extend(request.app[PIPELINE].problems())  # internal errors, held messages
    body = Health(status="degraded" if problems else "ok", problems=problems)
    if problems:
        # The same body, with 503 for load balancers and probes.
        return web.json_response(text=body.model_dump_json(), status=503)
    return body


async def metrics(request: web.Request, key: object) -> web.Response:
    response = web.Response(body=request.app[METRICS].render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


async def openapi(request: web.Request, key: object) -> web.Response:
    from gaitlink.cloud.ingest.routes import service_routes

    return web.json_response(document(service_routes(request.app[SETTINGS])))
