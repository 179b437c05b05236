"""The ingest service as an aiohttp application: `create_app(settings)`.

Every resource is opened and closed in a cleanup_ctx generator, in dependency order:
InfluxDB session, worker thread, pipeline, MQTT consumer and the batch loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from gaitlink.cloud.influx.client import InfluxV1
from gaitlink.cloud.ingest.consumer import Consumer
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook
from gaitlink.cloud.ingest.keys import CONSUMER, INFLUX, PIPELINE, RUNNER, SETTINGS
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.cloud.ingest.routes import setup_routes
from gaitlink.cloud.ingest.settings import IngestSettings
from gaitlink.cloud.protocol.topics import INGEST_FILTERS
from gaitlink.mqtt.endpoint import Endpoint

log = logging.getLogger(__name__)


def create_app(settings: IngestSettings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_influx, _pipeline, _consumer])
    setup_routes(app)
    return app


async def _influx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        influx = InfluxV1(session, app[SETTINGS].influx())
        if not await influx.ping():
            # Not fatal: writes retry until InfluxDB is back, and the broker keeps the data.
            log.warning("InfluxDB at %s does not answer /ping yet", app[SETTINGS].influx_url)
        app[INFLUX] = influx
        yield


async def _pipeline(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    devices = DeviceBook.load(settings.devices_file, settings.default_profile)
    dead_letters = DeadLetterStore(
        settings.dead_letter_path, max_bytes=settings.dead_letter_max_bytes
    )
    gait = None
    if settings.gait:
        from gaitlink.cloud.gait import warmup
        from gaitlink.cloud.ingest.gait import GaitStage

        # Compile (or load from cache) every kernel before the first message, so the JIT
        # never stalls ingest; off the event loop, as all CPU work.
        started = time.perf_counter()
        await asyncio.to_thread(warmup)
        log.info("gait kernels ready in %.1f s", time.perf_counter() - started)
        gait = GaitStage()
    app[PIPELINE] = Pipeline(devices, dead_letters, gait)
    yield


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    endpoint = Endpoint(
        settings.mqtt_host, settings.mqtt_port, settings.mqtt_username, settings.mqtt_password
    )
    consumer = Consumer(
        endpoint,
        settings.client_id,
        INGEST_FILTERS,
        max_queue=settings.queue_max_messages,
        max_batch=settings.batch_max_messages,
    )
    app[CONSUMER] = consumer
    # One worker: per-device state (sequence, gait) sees its messages in order, on one thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as executor:
        await consumer.start()
        task = asyncio.create_task(_run(app[PIPELINE], consumer, app[INFLUX], executor))
        task.add_done_callback(_stop_if_failed)
        app[RUNNER] = task
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


def _stop_if_failed(task: asyncio.Task) -> None:
    """The batch loop ended on an error (e.g. the dead-letter disk is full): stop the service.

    Serving on without it would look healthy while ingesting nothing. Its messages are not
    acked, so the broker keeps them for the restart that a supervisor (systemd) makes.
    """
    if task.cancelled() or task.exception() is None:
        return
    log.critical("ingest loop failed; stopping the service", exc_info=task.exception())
    os.kill(os.getpid(), signal.SIGTERM)


async def _run(
    pipeline: Pipeline, consumer: Consumer, influx: InfluxV1, executor: ThreadPoolExecutor
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        batch = await consumer.next_batch()
        try:
            transformed = await loop.run_in_executor(executor, pipeline.transform, batch)
        except Exception as exc:
            # A bug in our own code must not stall the stream behind it: keep every payload
            # as a dead letter (replayable once fixed) and move on. If even the dead-letter
            # store fails, that propagates and stops the service (see _stop_if_failed).
            log.exception("transform failed on a batch of %d messages", len(batch))
            for message in batch:
                pipeline.dead_letter(message, "ingest_error", repr(exc))
            consumer.ack(batch)
            continue
        await pipeline.deliver(transformed, influx.write)
        consumer.ack(batch)
