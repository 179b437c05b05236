"""Helpers for tests that run gateway and ingest as real processes against a real stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import configure
from gaitlink.tools import services
from gaitlink.tools.stack import Stack, free_port, influx_query
from tests.waiting import wait_until as wait_until  # the suite's one poller, re-exported


@contextmanager
def running_pipeline(stack: Stack, state_dir: Path) -> Iterator[dict[str, services.Service]]:
    """Ingest and gateway as subprocesses; stopped afterwards whatever happens."""
    http_port = free_port()
    ingest = services.ingest(stack, state_dir, http_port=http_port)
    gateway = services.gateway(stack, state_dir)
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
def publisher(endpoint: Endpoint, client_id: str = "test-publisher") -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    configure(client, endpoint)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


class _ByDevice:
    """Publishes each message with the account of the device its topic names, as each
    device does on the site broker (where a device may publish only under its own id)."""

    def __init__(self, clients: dict[str, mqtt.Client]) -> None:
        self._clients = clients

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False):
        device = topic.split("/")[2]
        return self._clients[device].publish(topic, payload, qos=qos, retain=retain)


@contextmanager
def device_publisher(stack: Stack, *device_ids: str) -> Iterator[_ByDevice]:
    """Clients on the site broker with each device's own account (made if missing); their
    `publish` picks the client by the topic's device id."""
    with ExitStack() as clients:
        by_device = {
            d: clients.enter_context(
                publisher(stack.site_endpoint(stack.add_device(d)), f"test-{d}")
            )
            for d in device_ids
        }
        yield _ByDevice(by_device)


def gateway_publisher(stack: Stack, *device_ids: str) -> AbstractContextManager[mqtt.Client]:
    """A client on the cloud broker as the site's gateway, allowed the given devices."""
    for device_id in device_ids:
        stack.add_device(device_id)
    return publisher(stack.cloud_endpoint(stack.account("cloud_gateway")), "test-gateway")


def operator_publisher(stack: Stack) -> AbstractContextManager[mqtt.Client]:
    """A client on the cloud broker that may publish any data topic, even of no device:
    what `gaitlink deadletter replay` uses, and how a test injects what no device could."""
    return publisher(stack.cloud_endpoint(stack.account("operator")), "test-operator")


def publish_all(client: mqtt.Client | _ByDevice, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=10)


def count(stack: Stack, measurement: str, where: str = "") -> int:
    rows = influx_query(stack, f'SELECT count("q") FROM "{measurement}" {where}')
    return int(rows[0]["count"]) if rows else 0
