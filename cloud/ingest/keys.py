"""Typed keys for what the ingest app shares between its resources and views."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from gaitlink.cloud.api.keystore import KeyRing
from gaitlink.cloud.api.metrics import IngestMetrics
from gaitlink.cloud.api.queries import Readings
from gaitlink.cloud.api.stream import StreamHub
from gaitlink.cloud.api.writes import ObservedWriter
from gaitlink.cloud.influx.client import InfluxV1
from gaitlink.cloud.ingest.consumer import Consumer
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.cloud.ingest.settings import IngestSettings
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.cloud.registry.sessions import SessionStore

SETTINGS = web.AppKey("settings", IngestSettings)
INFLUX = web.AppKey("influx", InfluxV1)
PIPELINE = web.AppKey("pipeline", Pipeline)
CONSUMER = web.AppKey("consumer", Consumer)
RUNNER = web.AppKey("runner", asyncio.Task)
# The one worker thread that runs the pipeline's CPU work (per-device state, in order).
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
KEYRING = web.AppKey("keyring", KeyRing)
METRICS = web.AppKey("metrics", IngestMetrics)
HUB = web.AppKey("hub", StreamHub)
WRITER = web.AppKey("writer", ObservedWriter)
READINGS = web.AppKey("readings", Readings)
SESSIONS = web.AppKey("sessions", SessionStore)
DEVICES = web.AppKey("devices", DeviceStore)
