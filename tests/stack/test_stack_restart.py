"""Crash one component and start it again: same port, same data (what fault tests do)."""

from __future__ import annotations

import queue
import signal
import time

import paho.mqtt.client as mqtt
import pytest

from gaitlink.tools.stack import (
    INFLUXDB,
    SITE_BROKER,
    Account,
    Stack,
    influx_query,
    influx_write,
)

_TOPIC = "gaitlink/v1/dev-1/imu"


def _state(stack: Stack, name: str) -> str:
    return {s.name: s.state for s in stack.status()}[name]


def test_influxdb_kill9_and_start__keeps_written_point(fresh_stack: Stack) -> None:
    influx_write(fresh_stack, "imu,device=dev-1 ax=1.5 1700000000000000000")
    old_pid = {s.name: s.pid for s in fresh_stack.status()}[INFLUXDB]

    assert fresh_stack.kill(INFLUXDB) is True
    assert _state(fresh_stack, INFLUXDB) == "stopped"
    assert fresh_stack.start(INFLUXDB) == "started"

    status = {s.name: s for s in fresh_stack.status()}[INFLUXDB]
    assert status.state == "running"
    assert status.pid != old_pid
    assert status.address == fresh_stack.influx_url  # same port
    rows = influx_query(fresh_stack, "SELECT ax FROM imu WHERE device = 'dev-1'")
    assert rows == [{"_measurement": "imu", "time": 1700000000000000000, "ax": 1.5}]


def test_start__running_component_is_left_alone(fresh_stack: Stack) -> None:
    assert fresh_stack.start(SITE_BROKER) == "already running"


class _Client:
    """A paho client on the site broker, closed properly (warnings are errors here)."""

    def __init__(self, stack: Stack, client_id: str, account: Account) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.username_pw_set(account.username, account.password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connected.put(rc)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.connect(stack.host, stack.site_port)
        self.client.loop_start()
        assert not self.connected.get(timeout=5).is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _publish_while_subscriber_offline(stack: Stack) -> None:
    subscriber = _Client(stack, "ingest-1", stack.account("site_gateway"))
    subscriber.client.subscribe(_TOPIC, qos=1)
    time.sleep(0.2)  # SUBACK; the session now holds the subscription
    subscriber.close()
    publisher = _Client(stack, "dev-1", stack.add_device("dev-1"))
    publisher.client.publish(_TOPIC, b"frame-0", qos=1).wait_for_publish(timeout=5)
    publisher.close()


def _receive(stack: Stack) -> bytes:
    subscriber = _Client(stack, "ingest-1", stack.account("site_gateway"))
    try:
        return subscriber.messages.get(timeout=5).payload
    finally:
        subscriber.close()


@pytest.mark.parametrize(
    ("sig", "settle_s"),
    [
        (signal.SIGTERM, 0.0),  # a clean restart writes the database on the way out
        (signal.SIGKILL, 2.5),  # a crash keeps what the 1 s autosave already wrote
    ],
)
def test_site_broker_restart__keeps_queued_qos1_message(
    fresh_stack: Stack, sig: signal.Signals, settle_s: float
) -> None:
    _publish_while_subscriber_offline(fresh_stack)
    time.sleep(settle_s)
    assert fresh_stack.kill(SITE_BROKER, sig) is True
    assert fresh_stack.start(SITE_BROKER) == "started"
    assert _receive(fresh_stack) == b"frame-0"
