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


def _started(relay: Relay, site_port: int) -> Relay:
    """Start, then wait until the site broker delivers to the relay: its first SUBSCRIBE may
    still be on the way when start() returns, and a frame published before it would not
    be queued for the relay's session (there is none yet)."""
    relay.start()
    for _ in range(50):
        publish(site_port, [("gaitlink/v1/warm-up/env", b"{}")], "warm-up")
        try:
            wait_for(lambda: relay.snapshot()["uplink_received"] > 0, 0.2, "warm-up")
            return relay
        except AssertionError:
            continue
    raise AssertionError("the relay never received from the site broker")


def test_relay__delivers_every_frame_in_device_order_and_empties_the_spool(brokers, tmp_path):
    site, cloud = brokers
    tally = CloudTally(cloud.port, "tally")
    relay = _started(_relay(site, cloud, tmp_path), site.port)
    try:
        warm_up = relay.snapshot()["uplink_received"]
        messages = [m for i in range(0, 300, 50) for d in "abc" for m in frames(d, i, 50)]
        publish(site.port, messages)
        wait_for(lambda: tally.distinct() == 900, 30, "900 frames at the cloud")
        wait_for(lambda: relay.spool.messages == 0, 10, "an empty spool")
        snap = relay.snapshot()
        print("relay counters:", snap)
        assert snap["uplink_received"] - warm_up == 900
        assert snap["uplink_delivered"] == snap["uplink_received"]
        assert tally.out_of_order == 0 and tally.duplicates() == 0
        assert set(relay.presence.report(0).keys()) == {"a", "b", "c", "warm-up"}
    finally:
        relay.stop()
        tally.close()


def test_relay__publishes_a_retained_status_and_a_beacon_with_ntp_state(brokers, tmp_path):
    site, cloud = brokers
    got: dict[str, list[bytes]] = {"status": [], "time": []}
    done = threading.Event()
    relay = _started(_relay(site, cloud, tmp_path, time_beacon_s=0.2), site.port)
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


def test_relay__downlink_config_reaches_the_site_retained(brokers, tmp_path):
    site, cloud = brokers
    relay = _relay(site, cloud, tmp_path)
    relay.start()
    topic = "gaitlink/v1/dev-9/config/desired"
    config = b'{"version": 5, "config": "{}", "sig": "00"}'
    try:
        sender = mqtt.Client(CallbackAPIVersion.VERSION2)
        sender.connect("127.0.0.1", cloud.port)
        sender.loop_start()
        sender.publish(topic, config, qos=1, retain=True).wait_for_publish(10)
        sender.disconnect()
        sender.loop_stop()
        wait_for(lambda: relay.snapshot()["downlink_delivered"] == 1, 10, "the config relayed")
        # A device that connects later still gets it: the relay kept it retained.
        got = threading.Event()
        device = mqtt.Client(CallbackAPIVersion.VERSION2)
        device.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        device.on_message = lambda c, u, m: got.set() if m.payload == config else None
        device.connect("127.0.0.1", site.port)
        device.loop_start()
        try:
            assert got.wait(10)
        finally:
            device.disconnect()
            device.loop_stop()
        assert relay.snapshot()["downlink_received"] == 1
    finally:
        relay.stop()
