"""The ingest service as an aiohttp application: `create_app(settings)`.

Every resource is opened and closed in a cleanup_ctx generator, in dependency order:
InfluxDB session, worker thread, pipeline, live stream and metrics, MQTT consumer and the
batch loop. The API's key file is read at start-up, so a bad one stops the service at once.
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

from gaitlink.cloud.api.alerts import watch_alerts
from gaitlink.cloud.api.keystore import KeyFile, KeyRing
from gaitlink.cloud.api.metrics import (
    IngestMetrics,
    cycles_metric,
    queue_metrics,
    snapshot_metrics,
    stall_metric,
)
from gaitlink.cloud.api.middleware import errors_and_request_id
from gaitlink.cloud.api.queries import Readings
from gaitlink.cloud.api.stream import StreamHub
from gaitlink.cloud.api.writes import ObservedWriter
from gaitlink.cloud.influx.client import InfluxV1
from gaitlink.cloud.ingest.consumer import Consumer
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook
from gaitlink.cloud.ingest.keys import (
    CONSUMER,
    DEVICES,
    EXECUTOR,
    HUB,
    INFLUX,
    KEYRING,
    METRICS,
    PIPELINE,
    READINGS,
    RUNNER,
    SESSIONS,
    SETTINGS,
    WRITER,
)
from gaitlink.cloud.ingest.pipeline import Pipeline
from gaitlink.cloud.ingest.routes import setup_routes
from gaitlink.cloud.ingest.settings import IngestSettings
from gaitlink.cloud.protocol.topics import INGEST_FILTERS
from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.cloud.registry.sessions import SessionStore
from gaitlink.mqtt.endpoint import Endpoint

log = logging.getLogger(__name__)


def create_app(settings: IngestSettings) -> web.Application:
    app = web.Application(middlewares=[errors_and_request_id])
    app[SETTINGS] = settings
    app[KEYRING] = KeyRing(KeyFile(settings.api_keys_file))
    app.cleanup_ctx.extend([_influx, _registry, _executor, _pipeline, _observers, _consumer])
    setup_routes(app, settings)
    return app


async def _influx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        influx = InfluxV1(session, app[SETTINGS].influx())
        if not await influx.ping():
            # Not fatal: writes retry until InfluxDB is back, and the broker keeps the data.
            log.warning("InfluxDB at %s does not answer /ping yet", app[SETTINGS].influx_url)
        app[INFLUX] = influx
        app[READINGS] = Readings(influx)
        yield


async def _registry(app: web.Application) -> AsyncIterator[None]:
    conn = open_registry(app[SETTINGS].registry_path)
    app[SESSIONS] = SessionStore(conn)
    app[DEVICES] = DeviceStore(conn)
    yield
    conn.close()


async def _executor(app: web.Application) -> AsyncIterator[None]:
    # One worker: per-device state (sequence, gait) sees its messages in order, on one thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as executor:
        app[EXECUTOR] = executor
        yield


async def _pipeline(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    devices = DeviceBook.registry(settings.registry_path, settings.accept_unprovisioned)
    dead_letters = DeadLetterStore(
        settings.dead_letter_path,
        max_bytes=settings.dead_letter_max_bytes,
        max_bytes_per_source=settings.dead_letter_max_bytes_per_device,
        payload_max_bytes=settings.dead_letter_payload_max_bytes,
    )
    gait = None
    if settings.gait:
        from gaitlink.cloud.gait import _compiled, warmup
        from gaitlink.cloud.ingest.gait import GaitStage

        # Load every kernel (the ahead-of-time build, or the JIT's: compiled or from its
        # cache) before the first message, so none stalls the ingest; off the event loop.
        started = time.perf_counter()
        await asyncio.to_thread(warmup)
        log.info("gait kernels (%s) ready in %.1f s", _compiled.KIND, time.perf_counter() - started)
        if _compiled.WHY_JIT:
            log.warning(
                "gait kernels from numba's JIT, ~150 MB more memory: %s; `gaitlink gait build` "
                "makes the build",
                _compiled.WHY_JIT,
            )
        gait = GaitStage()
    # The worker's own registry connection: it records each device's config reports.
    reports = open_registry(settings.registry_path, any_thread=True)
    app[PIPELINE] = Pipeline(
        devices,
        dead_letters,
        gait,
        time_limits=settings.time_limits(),
        seq_horizon_s=settings.seq_horizon_s,
        seq_t0_tolerance_s=settings.seq_t0_tolerance_s,
        record_report=DeviceStore(reports).record_report,
    )
    yield
    reports.close()
    devices.close()


async def _observers(app: web.Application) -> AsyncIterator[None]:
    """The live stream and /metrics: both observe the pipeline's writes and counters."""
    settings = app[SETTINGS]
    hub = StreamHub(
        queue_max=settings.stream_queue_max,
        max_clients=settings.stream_max_clients,
        heartbeat_s=settings.stream_heartbeat_s,
    )
    metrics = IngestMetrics()
    writer = ObservedWriter(app[INFLUX].write, hub, metrics)
    app[HUB], app[METRICS], app[WRITER] = hub, metrics, writer
    pipeline = app[PIPELINE]
    metrics.add_source(lambda: snapshot_metrics(pipeline.snapshot()))
    metrics.add_source(lambda: iter([stall_metric(pipeline.influx_stalled)]))
    metrics.add_source(lambda: iter([cycles_metric(writer.cycles_by_placement)]))
    watch = asyncio.create_task(watch_alerts(pipeline, hub))
    yield
    watch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watch


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    endpoint = Endpoint(
        settings.mqtt_host,
        settings.mqtt_port,
        settings.mqtt_username,
        settings.mqtt_password,
        tls=settings.mqtt_tls or settings.mqtt_ca_file is not None,
        ca_file=settings.mqtt_ca_file,
    )
    consumer = Consumer(
        endpoint,
        settings.client_id,
        INGEST_FILTERS,
        max_queue=settings.queue_max_messages,
        max_batch=settings.batch_max_messages,
    )
    app[CONSUMER] = consumer
    app[METRICS].add_source(lambda: queue_metrics(consumer.backlog, consumer.queue_full, app[HUB]))
    await consumer.start()
    task = asyncio.create_task(
        _run(app[PIPELINE], consumer, app[WRITER], app[EXECUTOR], settings.writes_in_flight)
    )
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
    pipeline: Pipeline,
    consumer: Consumer,
    write: ObservedWriter,
    executor: ThreadPoolExecutor,
    writes_in_flight: int = 1,
) -> None:
    """Transform batch after batch on the one worker (per-device state stays in order), and
    write up to `writes_in_flight` of them at a time, so InfluxDB works on one batch while
    the next is transformed. Each batch is acked when its own write is done: at-least-once
    holds per message, whatever order the writes finish in."""
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(writes_in_flight)
    writing: set[asyncio.Task] = set()
    failed: list[BaseException] = []

    async def deliver(transformed) -> None:
        try:
            await pipeline.deliver(transformed, write)
            consumer.ack(transformed.done)
        finally:
            slots.release()

    runner = asyncio.current_task()

    def finished(task: asyncio.Task) -> None:
        writing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())
            runner.cancel()  # the loop may be waiting for messages: stop it now

    try:
        while True:
            # Messages an internal error kept back go first once their retry time has come;
            # the wait for new ones ends in time for the next retry.
            retries = pipeline.due_retries()
            timeout = 0.0 if retries else pipeline.next_retry_in()
            batch = retries + await consumer.next_batch(timeout)
            if not batch:
                continue
            # transform handles every message on its own and keeps back (never acks) those
            # it failed on; if the dead-letter store itself fails, that propagates and stops
            # the service (see _stop_if_failed), with the batch unacked in the broker.
            transformed = await loop.run_in_executor(executor, pipeline.transform, batch)
            await slots.acquire()
            task = asyncio.create_task(deliver(transformed))
            writing.add(task)
            task.add_done_callback(finished)
    except asyncio.CancelledError:
        if failed:  # a write's own failure (e.g. the dead-letter store), not a shutdown
            raise failed[0] from None
        raise
    finally:
        for task in list(writing):
            task.cancel()
