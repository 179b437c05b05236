"""Typed keys for what the ingest app shares between its resources and views."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gaitlink.cloud.influx.client import InfluxV1
from gaitlink.cloud.ingest.consumer import Consumer
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.cloud.ingest.settings import IngestSettings

SETTINGS = web.AppKey("settings", IngestSettings)
INFLUX = web.AppKey("influx", InfluxV1)
PIPELINE = web.AppKey("pipeline", Pipeline)
CONSUMER = web.AppKey("consumer", Consumer)
RUNNER = web.AppKey("runner", asyncio.Task)
