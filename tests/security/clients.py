"""MQTT clients as an attacker (or a careless user) would try them, for tests/security."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import configure


def connack(
    endpoint: Endpoint,
    client_id: str = "",
    timeout: float = 5.0,
    *,
    clean_session: bool = True,
    linger_s: float = 0.0,
) -> str:
    """What the broker answers a CONNECT: "accepted", or the refusal's reason.

    `clean_session=False` resumes the session of `client_id` if there is one; `linger_s`
    stays connected that long after the CONNACK (for what a resumed session delivers).
    """
    answer: list[str] = []
    answered = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        answer.append("accepted" if not reason_code.is_failure else str(reason_code))
        answered.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
    )
    configure(client, endpoint)
    client.on_connect = on_connect
    client.connect(endpoint.host, endpoint.port, keepalive=10)
    client.loop_start()
    try:
        assert answered.wait(timeout), "no CONNACK"
        time.sleep(linger_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0]


class Listener:
    """A client that subscribes to `topic` and records what it is given."""

    def __init__(
        self, endpoint: Endpoint, topic: str, client_id: str = "", *, clean_session: bool = True
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._granted: list[int] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        configure(self.client, endpoint)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)

        def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
            self._granted.extend(rc.value for rc in reason_codes)
            subscribed.set()

        self.client.on_subscribe = on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(endpoint.host, endpoint.port, keepalive=10)
        self.client.loop_start()
        if not subscribed.wait(5):
            self.close()
            raise AssertionError(f"subscription to {topic} not answered")

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def received(self, settle_s: float = 0.0) -> list[tuple[str, bytes]]:
        time.sleep(settle_s)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
