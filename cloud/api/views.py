"""Thin views of /v1: each takes typed input from endpoint.py and returns a model."""

from __future__ import annotations

import asyncio
import functools
import time

from aiohttp import web

from gaitlink.cloud.api import stream
from gaitlink.cloud.api.errors import ApiError, DeviceNotFound, Forbidden, StoreUnavailable
from gaitlink.cloud.api.keystore import ApiKey
from gaitlink.cloud.api.models import (
    CyclePage,
    DataPage,
    DataQuery,
    DesiredConfig,
    Device,
    DeviceList,
    DeviceState,
    DeviceSummary,
    EventPage,
    IngestAccepted,
    LatestSample,
    RangeQuery,
    ReportedConfig,
    Stats,
)
from gaitlink.cloud.ingest.keys import (
    CONSUMER,
    DEVICES,
    EXECUTOR,
    HUB,
    PIPELINE,
    READINGS,
    SETTINGS,
    WRITER,
)
from gaitlink.cloud.protocol.messages import EnvTelemetry
from gaitlink.cloud.protocol.topics import PREFIX
from gaitlink.cloud.registry.devices import DeviceError, in_sync
from gaitlink.mqtt.link import Message


def _summary(request: web.Request, device: str) -> dict:
    book = request.app[PIPELINE].devices
    profile = book.get(device) or book.default
    if profile is None:  # data from before it left the registry, or from a test rig
        return {"id": device, "placement": "unknown", "axis_map": "x,y,z"}
    return {"id": device, "placement": profile.placement, "axis_map": profile.axis_map}


async def list_devices(request: web.Request, key: ApiKey) -> DeviceList:
    ids = await request.app[READINGS].device_ids()
    return DeviceList(devices=[DeviceSummary(**_summary(request, d)) for d in sorted(ids)])


async def get_device(request: web.Request, key: ApiKey, device: str) -> Device:
    """Desired (registry) against reported config, and presence (InfluxDB): 404 when the
    device is neither provisioned nor has any data."""
    store = request.app[DEVICES]
    try:
        registered = store.get(device)
    except DeviceError:
        registered = None
    measurements = sorted((await request.app[READINGS].device_ids()).get(device, []))
    if registered is None and not measurements:
        raise DeviceNotFound(f"device {device!r} is not provisioned and sent no data")
    status = await _state(request, device) if measurements else None
    desired = store.desired(device) if registered else None
    reported = None
    if registered is not None and registered.reported_version is not None:
        reported = ReportedConfig(
            version=registered.reported_version,
            status=registered.reported_status,
            error=registered.reported_error,
            config=registered.reported_config or {},
            reported_us=registered.reported_us,
        )
    return Device(
        **_summary(request, device),
        side=registered.side if registered else "",
        provisioned=registered is not None,
        measurements=measurements,
        desired=DesiredConfig(version=desired.version, issued=desired.issued,
                              config=desired.values()) if desired else None,
        reported=reported,
        in_sync=registered is not None and in_sync(registered, desired),
        firmware_version=status.firmware_version if status else None,
        online=status.online if status else False,
        last_seen_us=status.last_seen_us if status else None,
        status=status,
    )  # fmt: skip


async def device_status(request: web.Request, key: ApiKey, device: str) -> DeviceState:
    return await _state(request, device)


async def _state(request: web.Request, device: str) -> DeviceState:
    state = await request.app[READINGS].state(device)
    last_seen = state["last_seen_us"]
    recent = last_seen is not None and (
        time.time_ns() // 1000 - last_seen <= request.app[SETTINGS].offline_after_s * 1e6
    )
    return DeviceState(id=device, online=recent and state["state"] != "offline", **state)


async def device_data(request: web.Request, key: ApiKey, device: str, query: DataQuery) -> DataPage:
    rows, cursor = await request.app[READINGS].samples(device, query)
    channels = [c for c in (rows[0] if rows else {}) if c != "time_us"]
    return DataPage(
        device=device,
        aggregation=query.aggregation,
        interval=query.interval,
        channels=channels,
        rows=rows,
        truncated=cursor is not None,
        next_cursor=cursor,
    )


async def device_latest(request: web.Request, key: ApiKey, device: str) -> LatestSample:
    row = await request.app[READINGS].latest(device)
    time_us = row.pop("time_us")
    values = {k: v for k, v in row.items() if v is not None}
    return LatestSample(device=device, time_us=time_us, values=values)


async def device_cycles(
    request: web.Request, key: ApiKey, device: str, query: RangeQuery
) -> CyclePage:
    rows, cursor = await request.app[READINGS].rows("gait_cycle", device, query)
    return CyclePage(device=device, rows=rows, truncated=cursor is not None, next_cursor=cursor)


async def device_events(
    request: web.Request, key: ApiKey, device: str, query: RangeQuery
) -> EventPage:
    rows, cursor = await request.app[READINGS].rows("gait_event", device, query)
    return EventPage(device=device, rows=rows, truncated=cursor is not None, next_cursor=cursor)


async def ingest_env(request: web.Request, key: ApiKey, body: EnvTelemetry) -> IngestAccepted:
    """Environmental telemetry over HTTPS: the MQTT path's pipeline, validation and writer."""
    if key.role == "device" and body.device_id != key.device:
        raise Forbidden(f"this key speaks for device {key.device!r}, not {body.device_id!r}")
    app = request.app
    message = Message(
        topic=f"{PREFIX}{body.device_id}/env",
        payload=body.model_dump_json().encode(),
        qos=1,
        retain=False,
        mid=0,
    )
    pipeline = app[PIPELINE]
    loop = asyncio.get_running_loop()
    transformed = await loop.run_in_executor(
        app[EXECUTOR], functools.partial(pipeline.transform, [message], retry=False)
    )
    if transformed.held:  # a bug in the ingest, logged with its traceback; not bad input
        raise ApiError("internal error in the ingest; retry later", status=500, code="internal")
    points = len(transformed.lines)
    if points == 0:
        raise ApiError(
            "the ingest refused the message; its reason is in the dead-letter store",
            status=422,
            code="rejected",
        )
    try:
        # deliver retries while InfluxDB is down; an HTTP client should rather retry itself.
        async with asyncio.timeout(app[SETTINGS].http_write_timeout_s):
            await pipeline.deliver(transformed, app[WRITER])
    except TimeoutError:
        raise StoreUnavailable("InfluxDB does not accept writes now; retry later") from None
    return IngestAccepted(device_id=body.device_id, points=points)


async def live_stream(request: web.Request, key: ApiKey) -> web.WebSocketResponse:
    hub = request.app[HUB]
    if len(hub.clients) >= hub.max_clients:
        raise ApiError(f"at most {hub.max_clients} stream clients", status=503, code="busy")
    return await stream.serve(request, hub)


async def stats(request: web.Request, key: ApiKey) -> Stats:
    consumer = request.app[CONSUMER]
    hub = request.app[HUB]
    snapshot = request.app[PIPELINE].snapshot()
    snapshot.update(
        backlog=consumer.backlog,
        queue_full=consumer.queue_full,
        stream={
            "clients": len(hub.clients),
            "queued": hub.queued_total,
            "sent": hub.sent_total,
            "dropped": hub.dropped_total,
        },
        gait_cycles_by_placement=dict(request.app[WRITER].cycles_by_placement),
    )
    return Stats(**snapshot)
