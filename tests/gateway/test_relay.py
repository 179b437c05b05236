"""The relay with its spool against two real mosquitto brokers, in-process."""

import json
import signal
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.gateway.relay import Relay
from gaitlink.gateway.topics import TIME_TOPIC, gateway_status_topic
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto
from tests.gateway.helpers import SITE_EXTRA, CloudTally, frames, publish, spool_at
from tests.waiting import wait_until


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
        spool_at(tmp_path / "spool"), gateway_id="t", **{"status_every_s": 0.2, **kw},
    )  # fmt: skip


def _started(relay: Relay, site_port: int) -> Relay:
    """Start, then wait until the site broker delivers to the relay: its first SUBSCRIBE may
    still be on the way when start() returns, and a frame published before it would not
    be queued for the relay's session (there is none yet)."""
    relay.start()
    for _ in range(50):
        publish(site_port, [("gaitlink/v1/warm-up/env", b"{}")], "warm-up")
        try:
            wait_until(lambda: relay.snapshot()["uplink_received"] > 0, 0.2, "warm-up")
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
        wait_until(lambda: tally.distinct() == 900, 30, "900 frames at the cloud")
        wait_until(lambda: relay.spool.messages == 0, 10, "an empty spool")
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
        wait_until(lambda: b"dev-1" in got["status"][-1], 10, "dev-1 in the gateway status")
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
        wait_until(lambda: b'"offline"' in got["status"][-1], 10, "the offline status")
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
        wait_until(lambda: relay.snapshot()["downlink_delivered"] == 1, 10, "the config relayed")
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


def _retained_status(port: int, gateway_id: str, wait_s: float = 1.0) -> dict | None:
    """The retained gateway status the cloud broker hands a new subscriber, or None."""
    got: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.append(m.payload)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(gateway_status_topic(gateway_id), qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK from the cloud broker"
        # Retained messages come right after the SUBACK; wait a little for them.
        threading.Event().wait(wait_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return json.loads(got[-1]) if got else None


def _persist(broker: Mosquitto) -> None:
    """Have mosquitto write its database now (SIGUSR1), as its autosave would."""
    db = broker.home / "mosquitto.db"
    before = db.stat().st_mtime_ns if db.exists() else 0
    broker.signal(signal.SIGUSR1)
    wait_until(lambda: db.exists() and db.stat().st_mtime_ns != before, 10, "mosquitto.db saved")


def test_relay__stop_during_a_cloud_crash_leaves_no_online_status(brokers, tmp_path):
    # A crashed broker (SIGKILL: no shutdown, so the gateway's will is never sent) comes
    # back with the retained "online" of its last autosave. The gateway was stopped during
    # the outage, so nobody will overwrite it: it must expire on its own.
    site, cloud = brokers
    relay = _started(_relay(site, cloud, tmp_path, status_every_s=4.0), site.port)
    assert relay.status_expiry_s() == 12
    wait_until(lambda: _retained_status(cloud.port, "t", 0.3) is not None, 10, "a status")
    _persist(cloud)
    cloud.kill()
    relay.stop()  # a clean stop, while the cloud broker is down
    cloud.start()
    restarted = time.monotonic()
    # The broker kept it across the crash (so what follows is the expiry, not a lost file).
    before = _retained_status(cloud.port, "t")
    assert before is not None and before["state"] == "online", before
    threading.Event().wait(max(0.0, restarted + relay.status_expiry_s() + 1 - time.monotonic()))
    after = _retained_status(cloud.port, "t")
    print("retained status after the crash:", before["state"], "then", after)
    assert after is None or after["state"] == "offline", after


def test_relay__status_is_published_again_as_soon_as_the_cloud_is_back(brokers, tmp_path):
    # status_every_s of a minute: only the reconnect can publish within the test.
    site, cloud = brokers
    relay = _started(_relay(site, cloud, tmp_path, status_every_s=60.0), site.port)
    try:
        wait_until(lambda: relay.snapshot()["status_published"] >= 1, 10, "a status")
        cloud.kill()
        wait_until(lambda: not relay.cloud.connected, 10, "the cloud link down")
        down_us = time.time_ns() // 1000
        cloud.start()
        wait_until(lambda: relay.cloud.connected, 20, "the cloud link back")

        def fresh() -> bool:
            status = _retained_status(cloud.port, "t", wait_s=0.3)
            return status is not None and status["state"] == "online" and status["t_us"] > down_us

        wait_until(fresh, 10, "a status newer than the outage")
    finally:
        relay.stop()


@pytest.mark.parametrize("batch_frames", [50, 1])
def test_relay__a_backlog_goes_in_batches_every_frame_once_in_order(
    brokers, tmp_path, batch_frames
):
    # The cloud away while 3 devices send: the spool holds the backlog, and when the cloud
    # is back it goes out in batches of one device each (none with batch_frames 1).
    site, cloud = brokers
    relay = _started(_relay(site, cloud, tmp_path, batch_frames=batch_frames), site.port)
    # The tally's session (and subscriptions) saved, so the restarted cloud broker queues
    # for it whatever the relay sends before the tally has reconnected.
    tally = CloudTally(cloud.port, "tally")
    _persist(cloud)
    try:
        warm_up = relay.snapshot()["uplink_received"]
        cloud.kill()
        wait_until(lambda: not relay.cloud.connected, 10, "the cloud link down")
        messages = [m for i in range(0, 300, 30) for d in "abc" for m in frames(d, i, 30)]
        messages.insert(450, ("gaitlink/v1/b/env", b"{}"))  # between b's frames
        publish(site.port, messages)
        wait_until(lambda: relay.snapshot()["uplink_received"] - warm_up == 901, 30, "spooled")
        cloud.start()
        wait_until(lambda: tally.distinct() == 900, 30, "900 frames at the cloud")
        # The spool forgets rows before their deletion's commit, the counter counts them
        # after it: wait for the counter.
        wait_until(lambda: relay.snapshot()["uplink_delivered"] == 901 + warm_up, 10, "acks")
        snap = relay.snapshot()
        print("relay counters:", snap, "batches at the cloud:", tally.batches)
        assert relay.spool.messages == 0
        assert tally.out_of_order == 0 and tally.duplicates() == 0
        assert tally.batches == snap["uplink_batches"]
        if batch_frames == 1:
            assert snap["uplink_batches"] == 0
        else:
            # Batches of up to 50 frames of one device: at least 18 for 900 frames.
            assert snap["uplink_batches"] >= 18 and snap["uplink_batched_frames"] >= 800
    finally:
        relay.stop()
        tally.close()
