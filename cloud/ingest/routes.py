"""URL table of the ingest service; views live in views.py and cloud/api/views.py.

Every route is a `Route` (cloud/api/endpoint.py): the table below is both what aiohttp
serves and what /v1/openapi.json documents. Every /v1 route needs an API key.
"""

from __future__ import annotations

from aiohttp import web

from gaitlink.cloud.api import devconfig, export, firmware, sessions
from gaitlink.cloud.api import views as api
from gaitlink.cloud.api.devconfig import DesiredOut
from gaitlink.cloud.api.endpoint import ADMIN, ANY_KEY, INGEST, Route, register
from gaitlink.cloud.api.models import (
    CyclePage,
    DataPage,
    DataQuery,
    Device,
    DeviceList,
    DeviceState,
    EventPage,
    Health,
    IngestAccepted,
    LatestSample,
    RangeQuery,
    SessionList,
    SessionOut,
    SessionQuery,
    SessionStart,
    SessionStop,
    Stats,
)
from gaitlink.cloud.ingest import views
from gaitlink.cloud.ingest.settings import IngestSettings
from gaitlink.cloud.protocol.config import RemoteConfig
from gaitlink.cloud.protocol.messages import EnvTelemetry
from gaitlink.cloud.ui.routes import setup_ui

DEVICE = "/v1/devices/{device}"


def service_routes(settings: IngestSettings) -> list[Route]:
    return [
        Route("GET", "/health", views.health, "Whether the ingest moves data",
              roles=None, response=Health, errors=(503,), same_body_statuses=(503,)),
        Route("GET", "/metrics", views.metrics, "Prometheus metrics (text format)",
              roles=ADMIN if settings.metrics_require_key else None,
              content_type="text/plain"),
        Route("GET", "/v1/openapi.json", views.openapi, "This document (OpenAPI 3.1)",
              roles=ANY_KEY),
        Route("GET", "/v1/stats", api.stats, "The ingest's counters as JSON",
              roles=ADMIN, response=Stats),
        # -- data in ------------------------------------------------------------------
        Route("POST", "/v1/data/ingest", api.ingest_env,
              "Environmental telemetry (protocol §3.1) from a device posting over HTTPS",
              roles=INGEST, body=EnvTelemetry, response=IngestAccepted, errors=(403, 422, 503)),
        # -- devices and their data ---------------------------------------------------
        Route("GET", "/v1/devices", api.list_devices, "Devices with data in InfluxDB",
              response=DeviceList, errors=(503,)),
        Route("GET", DEVICE, api.get_device,
              "One device: desired config (signed by the cloud) against reported (applied "
              "by the device), whether they are in sync, its last status, firmware and "
              "presence", response=Device, errors=(404, 503)),
        Route("GET", f"{DEVICE}/status", api.device_status,
              "Online/offline, last seen, boot, firmware and the device's counters",
              response=DeviceState, errors=(404, 503)),
        Route("GET", f"{DEVICE}/data", api.device_data,
              "IMU samples, raw or aggregated, a page at a time (keyset cursor on time)",
              query=DataQuery, response=DataPage, errors=(503,)),
        Route("GET", f"{DEVICE}/data/latest", api.device_latest, "The newest IMU sample",
              response=LatestSample, errors=(404, 503)),
        Route("GET", f"{DEVICE}/cycles", api.device_cycles, "gait_cycle rows in a time range",
              query=RangeQuery, response=CyclePage, errors=(503,)),
        Route("GET", f"{DEVICE}/events", api.device_events, "gait_event rows in a time range",
              query=RangeQuery, response=EventPage, errors=(503,)),
        # -- recording sessions (who wore which device doing what; docs/researchers.md) --
        Route("GET", "/v1/sessions", sessions.list_sessions, "Recording sessions",
              query=SessionQuery, response=SessionList),
        Route("POST", "/v1/sessions", sessions.start_session,
              "Start a session: a subject wears a device for a task",
              body=SessionStart, response=SessionOut, status=201, errors=(409, 422, 503)),
        Route("POST", "/v1/sessions/{session_id}/stop", sessions.stop_session,
              "Stop a session (body `{}` for now)",
              body=SessionStop, response=SessionOut, errors=(404, 409, 422, 503)),
        Route("GET", "/v1/sessions/{session_id}/export", export.session_export,
              "A stopped session as LocoHub-layout parquet (`kind=phase` cycles, `kind=time` "
              "raw samples), streamed", query=export.ExportQuery, errors=(404, 409, 501, 503),
              content_type=export.CONTENT_TYPE),
        # -- device configuration (docs/protocol.md §3.3) ------------------------------
        Route("PUT", f"{DEVICE}/config", devconfig.put_config,
              "Sign and publish (retained) the device's next config version; fields left "
              "out keep their last desired value", roles=ADMIN, body=RemoteConfig,
              response=DesiredOut, errors=(404, 422)),
        # -- firmware releases, for devices taking an update (docs/protocol.md §3.5) -----
        Route("GET", "/firmware/{version}/{file}", firmware.release_file,
              "A file of a firmware release (open: devices check it against their signed "
              "offer)", roles=None, errors=(404,), content_type="application/octet-stream"),
        Route("GET", "/firmware/{version}/{folder}/{file}", firmware.release_file_in_folder,
              "A file in a folder of a firmware release", roles=None, errors=(404,),
              content_type="application/octet-stream"),
        # -- live ---------------------------------------------------------------------
        Route("GET", "/v1/stream", api.live_stream,
              "WebSocket: live samples, gait, status and alerts (docs/api.md)",
              errors=(503,), description=STREAM_DESCRIPTION),
    ]  # fmt: skip


STREAM_DESCRIPTION = (
    "Upgrade to a WebSocket, then send "
    '`{"op": "subscribe", "channel": "device.ID.data", "rate_hz": 10}`. Channels: '
    "`device.ID.data` (decimated, at most 50 Hz), `device.ID.gait`, `device.ID.status`, "
    "`device.ID.env` (battery, RSSI, environment; at most 1 Hz), `devices` (new device ids), "
    "`alerts`. Each client has a bounded queue: when it reads too slowly the oldest "
    'messages are dropped and it receives `{"type": "dropped", "count": n, "total": N}`.'
)


def setup_routes(app: web.Application, settings: IngestSettings) -> None:
    routes = service_routes(settings)
    register(app, routes)
    setup_ui(app, routes)
