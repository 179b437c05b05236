"""Device presence from will, status and traffic (pure logic on Messages), and /health's
spool alarm on a real spool."""

import json

from gaitlink.gateway.health import health
from gaitlink.gateway.presence import Presence
from gaitlink.gateway.relay import Relay
from gaitlink.gateway.spool import Limits
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Message
from tests.gateway.helpers import spool_at


def _msg(device: str, kind: str, payload: bytes = b"x") -> Message:
    return Message(f"gaitlink/v1/{device}/{kind}", payload, 1, False, 1)


def _status(device: str, state: str) -> Message:
    return _msg(device, "status", json.dumps({"device_id": device, "state": state}).encode())


def test_presence__traffic_status_will_and_silence():
    presence = Presence(timeout_s=30)
    presence.saw([_msg("a", "imu"), _status("b", "online")], now=100.0)
    assert presence.state("a", 100.0) == "online" and presence.state("b", 100.0) == "online"
    assert presence.state("a", 131.0) == "offline"  # silent longer than the timeout
    presence.saw([_status("b", "offline")], now=101.0)  # its last will
    assert presence.state("b", 101.0) == "offline"
    presence.saw([_msg("b", "imu")], now=102.0)  # traffic again: it is back
    assert presence.state("b", 102.0) == "online"
    presence.saw([_status("a", "rebooting")], now=103.0)
    assert presence.state("a", 103.0) == "rebooting"
    assert presence.state("never-seen", 103.0) == "unknown"
    report = presence.report(103.0)
    assert report["b"] == {"state": "online", "last_seen_s": 1.0, "messages": 3}


def test_presence__a_bad_status_says_nothing_about_the_state():
    presence = Presence(timeout_s=30)
    presence.saw([_msg("a", "status", b"not json"), _msg("c", "status", b"[1]")], now=1.0)
    assert presence.state("a", 1.0) == "online" and presence.state("c", 1.0) == "online"


def test_health__spool_over_its_alarm_fraction_is_503(tmp_path):
    spool = spool_at(tmp_path, Limits(max_bytes=10_000, max_age_s=3600, reserve_bytes=0))
    relay = Relay(Endpoint("127.0.0.1", 1), Endpoint("127.0.0.1", 2), spool)
    spool.add([("gaitlink/v1/a/imu", b"x" * 500)] * 10)
    spool.commit()
    ok, body = health(relay, cloud_down_s=60, spool_alarm_fraction=0.5)
    assert not ok and "spool at" in body["reasons"][0], body
    ok, _ = health(relay, cloud_down_s=60, spool_alarm_fraction=1.0)
    assert ok
    spool.close()
