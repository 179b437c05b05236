"""Attacks on the two brokers, against the stack's real mosquitto instances.

Each test tries what an attacker on the site network, or holding one stolen device, would
try, and checks that it gets nothing; where a refusal could also mean "broken", a control
shows that the rightful account does get through.
"""

from __future__ import annotations

import dataclasses

import pytest

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.tools.stack import Stack
from tests.security.clients import Listener, connack

SETTLE_S = 1.0  # long enough for a loopback broker to deliver what it is going to


def _anonymous(stack: Stack, broker: str) -> Endpoint:
    if broker == "site":
        return Endpoint(stack.host, stack.site_port)
    # Over TLS, verified: the refusal must come from the accounts, not from the handshake.
    return Endpoint(stack.host, stack.cloud_port).with_ca(stack.ca_file)


@pytest.mark.parametrize("broker", ["site", "cloud"])
def test_broker__anonymous_connect_is_refused(stack, broker):
    assert connack(_anonymous(stack, broker)) == "Not authorized"


@pytest.mark.parametrize("broker", ["site", "cloud"])
def test_broker__wrong_password_is_refused(stack, broker):
    endpoint = (
        stack.site_endpoint(stack.account("site_gateway"))
        if broker == "site"
        else stack.cloud_endpoint(stack.account("ingest"))
    )
    assert connack(endpoint) == "accepted"  # the control: the right password gets in
    wrong = dataclasses.replace(endpoint, password=endpoint.password + "x")
    assert connack(wrong) != "accepted"
    unknown = dataclasses.replace(endpoint, username="nobody")
    assert connack(unknown) != "accepted"


def test_site_broker__device_cannot_publish_as_another_device(stack):
    thief = stack.site_endpoint(stack.add_device("sec-thief"))
    victim = stack.add_device("sec-victim")
    gateway = stack.site_endpoint(stack.account("site_gateway"))
    with Listener(gateway, "gaitlink/v1/+/status") as watched:
        with Listener(thief, "gaitlink/v1/sec-thief/config/desired") as attacker:
            for topic in ("gaitlink/v1/sec-victim/status", "gaitlink/v1/sec-thief/status"):
                attacker.client.publish(topic, b"forged", qos=1).wait_for_publish(5)
        got = watched.received(SETTLE_S)
    # The thief's own status arrives (control); the one under the victim's id never does.
    assert ("gaitlink/v1/sec-thief/status", b"forged") in got
    assert not [t for t, _ in got if t.startswith(f"gaitlink/v1/{victim.username}/")]


def test_site_broker__device_cannot_read_another_devices_config(stack):
    stack.add_device("sec-own")
    gateway = stack.site_endpoint(stack.account("site_gateway"))
    with Listener(gateway, "gaitlink/v1/+/status") as sender:
        for device in ("sec-own", "sec-other"):
            sender.client.publish(
                f"gaitlink/v1/{device}/config/desired", b"cfg-" + device.encode(), 1, retain=True
            ).wait_for_publish(5)
    own = stack.site_endpoint(stack.add_device("sec-own"))
    with Listener(own, "gaitlink/v1/sec-other/config/desired") as prying:
        stolen = prying.received(SETTLE_S)
    with Listener(own, "gaitlink/v1/sec-own/config/desired") as rightful:
        mine = rightful.received(SETTLE_S)
    assert stolen == []
    assert mine == [("gaitlink/v1/sec-own/config/desired", b"cfg-sec-own")]


def test_site_broker__a_stolen_device_subscribing_to_everything_sees_only_its_own(stack):
    # Without an account a laptop cannot even connect (test above); with a stolen device's
    # account, `#` yields that device's downlink and the time beacon, nothing of others.
    other = stack.site_endpoint(stack.add_device("sec-busy"))
    laptop = stack.site_endpoint(stack.add_device("sec-stolen"))
    with Listener(laptop, "#") as everything, Listener(other, "gaitlink/v1/none") as device:
        for kind in ("imu", "env", "status"):
            device.client.publish(f"gaitlink/v1/sec-busy/{kind}", b"data", 1).wait_for_publish(5)
        got = everything.received(SETTLE_S)
    allowed = ("gaitlink/v1/time", "gaitlink/v1/sec-stolen/")
    assert [t for t, _ in got if not t.startswith(allowed)] == []


def test_cloud_broker__only_the_ingest_reads_the_data_topics(stack):
    stack.add_device("sec-data")
    gateway = stack.cloud_endpoint(stack.account("cloud_gateway"))
    ingest = stack.cloud_endpoint(stack.account("ingest"))
    with (
        Listener(ingest, "gaitlink/v1/sec-data/#", client_id="sec-ingest-reader") as reader,
        Listener(gateway, "gaitlink/v1/#") as snooper,
    ):
        snooper.client.publish("gaitlink/v1/sec-data/imu", b"frame", 1).wait_for_publish(5)
        snooped = snooper.received(SETTLE_S)
        read = reader.received()
    assert read == [("gaitlink/v1/sec-data/imu", b"frame")]  # the control
    # What it may see: retained downlink (config/desired) of its site's devices; no data.
    assert [t for t, _ in snooped if not t.endswith(("/config/desired", "/ota"))] == []


def test_cloud_broker__gateway_writes_only_under_its_sites_devices(stack):
    stack.add_device("sec-mine")
    gateway = stack.cloud_endpoint(stack.account("cloud_gateway"))
    ingest = stack.cloud_endpoint(stack.account("ingest"))
    with Listener(ingest, "gaitlink/v1/+/imu", client_id="sec-ingest-site") as reader:
        with Listener(gateway, "gaitlink/v1/none") as sender:
            for device in ("sec-not-mine", "sec-mine"):
                sender.client.publish(f"gaitlink/v1/{device}/imu", b"f", 1).wait_for_publish(5)
        got = [t for t, _ in reader.received(SETTLE_S) if t.startswith("gaitlink/v1/sec-")]
    assert got == ["gaitlink/v1/sec-mine/imu"]


def test_cloud_broker__the_ingests_client_id_without_credentials_is_refused(stack):
    for client_id in ("gaitlink-ingest", "gaitlink-ingest-0123456789"):
        assert connack(_anonymous(stack, "cloud"), client_id=client_id) == "Not authorized"


def test_cloud_broker__gateway_batches_only_under_its_sites_devices_only_to_the_ingest(stack):
    # The batch topic (docs/protocol.md §2.5) is per device, so the ACL still holds a
    # gateway to its site's devices; and only the ingest reads it.
    stack.add_device("sec-batch")
    gateway = stack.cloud_endpoint(stack.account("cloud_gateway"))
    ingest = stack.cloud_endpoint(stack.account("ingest"))
    with (
        Listener(ingest, "gaitlink/v1/+/imu/batch", client_id="sec-ingest-batch") as reader,
        Listener(gateway, "gaitlink/v1/+/imu/batch") as snooper,
    ):
        for device in ("sec-batch-not-mine", "sec-batch"):
            topic = f"gaitlink/v1/{device}/imu/batch"
            snooper.client.publish(topic, b"batch", 1).wait_for_publish(5)
        got = [t for t, _ in reader.received(SETTLE_S) if t.startswith("gaitlink/v1/sec-")]
        snooped = snooper.received()
    assert got == ["gaitlink/v1/sec-batch/imu/batch"]
    assert snooped == []
