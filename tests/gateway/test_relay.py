"""The relay with its spool against two real mosquitto brokers, in-process."""

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.gateway.relay import Relay
from gaitlink.gateway.topics import TIME_TOPIC, gateway_status_topic
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto
from tests.gateway.helpers import SITE_EXTRA, CloudTally, frames, publish, spool_at, wait_for


@pytest.fixture
def brokers(tmp_path):
    site = Mosquitto(tmp_path / "site", free_port(), extra=SITE_EXTRA)
    cloud = Mosquitto(tmp_path / "cloud", free_port())
    site.start()
    cloud.start()
    yield site, cloud
    site.kill()
    cloud.kill()


def _relay(site, cloud, tmp_path, **kw) -> Relay:
    return Relay(
        Endpoint("127.0.0.1", site.port), Endpoint("127.0.0.1", cloud.port),
        spool_at(tmp_path / "spool"), gateway_id="t", status_every_s=0.2, **kw,
    )  # fmt: skip


def test_relay__delivers_every_frame_in_device_order_and_empties_the_spool(brokers, tmp_path):
    site, cloud = brokers
    tally = CloudTally(cloud.port, "tally")
    relay = _relay(site, cloud, tmp_path)
    relay.start()
    try:
        messages = [m for i in range(0, 300, 50) for d in "abc" for m in frames(d, i, 50)]
        publish(site.port, messages)
        wait_for(lambda: tally.distinct() == 900, 30, "900 frames at the cloud")
        wait_for(lambda: relay.spool.messages == 0, 10, "an empty spool")
        snap = relay.snapshot()
        print("relay counters:", snap)
        assert snap["uplink_received"] == 900 and snap["uplink_delivered"] == 900
        assert tally.out_of_order == 0 and tally.duplicates() == 0
        assert set(relay.presence.report(0).keys()) == {"a", "b", "c"}
    finally:
        relay.stop()
        tally.close()


def test_relay__publishes_a_retained_status_and_a_beacon_with_ntp_state(brokers, tmp_path):
    site, cloud = brokers
    got: dict[str, list[bytes]] = {"status": [], "time": []}
    done = threading.Event()
    relay = _relay(site, cloud, tmp_path, time_beacon_s=0.2)
    relay.start()
    publish(site.port, frames("dev-1", 0, 3))

    def watch(port: int, topic: str, key: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2)

        def on_message(c, u, msg) -> None:
            got[key].append(msg.payload)
            if got["status"] and got["time"]:
                done.set()

        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.connect("127.0.0.1", port)
        client.loop_start()
        return client

    clients = [
        watch(cloud.port, gateway_status_topic("t"), "status"),
        watch(site.port, TIME_TOPIC, "time"),
    ]
    try:
        assert done.wait(10), got
        wait_for(lambda: b"dev-1" in got["status"][-1], 10, "dev-1 in the gateway status")
        status = json.loads(got["status"][-1])
        assert status["state"] == "online" and status["devices"]["dev-1"]["state"] == "online"
        assert {"spool_messages", "spool_bytes", "spool_oldest_age_s"} <= status.keys()
        beacon = json.loads(got["time"][-1])
        assert isinstance(beacon["t_us"], int) and beacon["ntp_synced"] in (True, False, None)
    finally:
        relay.stop()
        for c in clients:
            c.disconnect()
            c.loop_stop()
    # The retained status now says offline, for whoever subscribes later.
    later = watch(cloud.port, gateway_status_topic("t"), "status")
    try:
        wait_for(lambda: b'"offline"' in got["status"][-1], 10, "the offline status")
    finally:
        later.disconnect()
        later.loop_stop()


def test_relay__refuses_the_same_broker_on_both_sides(tmp_path):
    with pytest.raises(ValueError, match="same"):
        Relay(Endpoint("127.0.0.1", 1883), Endpoint("127.0.0.1", 1883), spool_at(tmp_path))
