"""Short MQTT conversations for operator commands: publish one retained message and wait
for the broker's PUBACK; read the retained messages of a few topics.

Both go through `Link`, the project's one paho wrapper, with a clean session and a client
id of their own, so they never take over a service's session.
"""

from __future__ import annotations

import os
import threading
import time

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Link, LinkError, Message


def _client_id(purpose: str) -> str:
    return f"gaitlink-{purpose}-{os.getpid()}-{os.urandom(3).hex()}"


def publish_retained(endpoint: Endpoint, topic: str, payload: bytes, timeout_s: float = 10.0):
    """Publish `payload` retained with QoS 1; LinkError unless the broker acknowledged it."""
    acked = threading.Event()
    link = Link(endpoint, _client_id("publish"), clean_session=True)
    link.start(timeout_s)
    try:
        link.publish(topic, payload, qos=1, retain=True, on_acked=acked.set)
        if not acked.wait(timeout_s):
            raise LinkError(f"the broker at {endpoint} did not acknowledge {topic}")
    finally:
        link.stop()


def read_retained(endpoint: Endpoint, topics: list[str], wait_s: float = 1.0) -> dict[str, bytes]:
    """The retained message of each topic that has one (a broker sends them at subscribe)."""
    got: dict[str, bytes] = {}
    done = threading.Event()
    holder: list[Link] = []

    def on_message(message: Message) -> None:
        if message.retain:
            got[message.topic] = message.payload
        holder[0].ack(message)
        if len(got) == len(topics):
            done.set()

    link = Link(endpoint, _client_id("read"), subscriptions=topics, on_message=on_message,
                clean_session=True)  # fmt: skip
    holder.append(link)
    link.start()
    try:
        # retained messages follow the SUBACK at once; a topic without one sends nothing,
        # so the wait is bounded rather than open-ended
        deadline = time.monotonic() + wait_s
        while not done.is_set() and time.monotonic() < deadline:
            done.wait(0.05)
    finally:
        link.stop()
    return got
