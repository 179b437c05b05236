"""Session takeover on the cloud broker (issue 8): a client of *another* account that
connects with the ingest's client id must not discard the ingest's persistent session,
and with it the messages queued for the ingest while it was away.

The cloud broker names every session after its account (`use_username_as_clientid`), so
the client id a client sends cannot reach another account's session. The control runs the
same attack against a mosquitto without that option: there the queued messages are lost,
which shows that the count can fail.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.tools import services
from gaitlink.tools.stack import Stack, free_port
from tests.cloud.frames import encode_frame
from tests.firmware.helpers import Mosquitto
from tests.integration.pipeline import count, gateway_publisher, publish_all, publisher, wait_until
from tests.security.clients import Listener, connack

N_MESSAGES = 10
VICTIM_ID = "sec-victim-session"


def _attack(thief: Endpoint, client_ids: list[str]) -> None:
    """What the issue's attacker did, with every client id the victim's session may have:
    resume the session (and take what it delivers), then start it clean (discard it)."""
    for client_id in client_ids:
        assert connack(thief, client_id, clean_session=False, linger_s=0.5) == "accepted"
        assert connack(thief, client_id, clean_session=True) == "accepted"


def _queued_through_takeover(victim: Endpoint, thief: Endpoint, sender: Endpoint) -> int:
    """Messages the victim's persistent session still holds for it after the attack."""
    topic = "gaitlink/v1/sec-takeover/imu"
    # The victim subscribes in a persistent session, then goes away (a restart, say).
    Listener(victim, topic, VICTIM_ID, clean_session=False).close()
    with publisher(sender, "sec-takeover-sender") as client:
        publish_all(client, [(topic, b"%d" % i) for i in range(N_MESSAGES)])
    _attack(thief, [VICTIM_ID, victim.username or ""])
    with Listener(victim, topic, VICTIM_ID, clean_session=False) as back:
        deadline = time.monotonic() + 5
        while len(back.received()) < N_MESSAGES and time.monotonic() < deadline:
            time.sleep(0.1)
        got = back.received(0.5)
    # leave no session behind on the shared broker
    Listener(victim, topic, VICTIM_ID, clean_session=True).close()
    return len({payload for _topic, payload in got})


def test_cloud_broker__another_account_cannot_discard_a_session(stack: Stack):
    stack.add_device("sec-takeover")
    victim = stack.cloud_endpoint(stack.cloud_account("ingest", "takeover"))
    thief = stack.cloud_endpoint(stack.account("operator"))  # any other account
    sender = stack.cloud_endpoint(stack.account("cloud_gateway"))
    assert _queued_through_takeover(victim, thief, sender) == N_MESSAGES


def test_unbound_broker__the_same_attack_loses_the_queue(tmp_path):
    # The control: mosquitto 2.0.11 without use_username_as_clientid, accounts and all.
    users = {"victim": "pw-victim", "thief": "pw-thief", "sender": "pw-sender"}
    port = free_port()
    broker = Mosquitto(tmp_path / "broker", port, users=users)
    broker.start()
    try:
        victim, thief, sender = (
            Endpoint("127.0.0.1", port).with_login(name, users[name]) for name in users
        )
        assert _queued_through_takeover(victim, thief, sender) == 0
    finally:
        broker.kill()


@pytest.mark.e2e
def test_ingest__its_session_survives_the_takeover_attack(stack: Stack, tmp_path):
    # The attack on the real ingest: while it is down, frames queue in its session;
    # another account connects with its client id; the ingest comes back and writes them all.
    device_id = "sec-takeover-ingest"
    ingest = services.ingest(stack, tmp_path, http_port=free_port())
    ingest.start()  # makes its persistent session and subscriptions
    ingest.stop()
    t0_us = time.time_ns() // 1000
    rng = np.random.default_rng(8)
    frames = [
        (
            f"gaitlink/v1/{device_id}/imu",
            encode_frame(rng.integers(-2000, 2000, (50, 6), np.int16), boot_id=4, seq=s,
                         t0_us=t0_us + s * 500_000, period_us=10_000),
        )
        for s in range(N_MESSAGES)
    ]  # fmt: skip
    with gateway_publisher(stack, device_id) as gateway:
        publish_all(gateway, frames)
    own_account = services.service_account(stack, "ingest", tmp_path).username
    client_ids = [f"gaitlink-ingest-{services.session_suffix(tmp_path)}", own_account]
    _attack(stack.cloud_endpoint(stack.account("cloud_gateway")), client_ids)
    ingest.start()
    try:
        where = f"WHERE device='{device_id}'"
        wait_until(lambda: count(stack, "imu", where) >= N_MESSAGES * 50, 60, "every sample")
        assert count(stack, "imu", where) == N_MESSAGES * 50
    finally:
        ingest.stop()
