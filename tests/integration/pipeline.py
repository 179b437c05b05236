"""Helpers for tests that run gateway and ingest as real processes against a real stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.tools import services
from gaitlink.tools.stack import Stack, free_port, influx_query


@contextmanager
def running_pipeline(stack: Stack, state_dir: Path) -> Iterator[dict[str, services.Service]]:
    """Ingest and gateway as subprocesses; stopped afterwards whatever happens."""
    http_port = free_port()
    ingest = services.ingest(
        stack.cloud_url, stack.influx_url, stack.database, state_dir, http_port=http_port
    )
    gateway = services.gateway(stack.site_url, stack.cloud_url, state_dir)
    started: list[services.Service] = []
    try:
        for service in (ingest, gateway):
            service.start()
            started.append(service)
        yield {"ingest": ingest, "gateway": gateway, "http_port": http_port}
    finally:
        for service in reversed(started):
            service.stop()


@contextmanager
def publisher(port: int, client_id: str = "test-publisher") -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=10)


def count(stack: Stack, measurement: str, where: str = "") -> int:
    rows = influx_query(stack, f'SELECT count("q") FROM "{measurement}" {where}')
    return int(rows[0]["count"]) if rows else 0


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
