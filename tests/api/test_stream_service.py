"""`/v1/stream` of the real ingest process: live channels, auth, and a slow client."""

import asyncio
import itertools
import json
import time

import aiohttp
import pytest

from gaitlink.tools.services import ingest_metrics
from tests.api.service import PERIOD_US, api_service, recent_t0_us, walking_frames
from tests.api.wsclient import RawWebSocket
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import count, gateway_publisher, publish_all, wait_until


@pytest.fixture(scope="module")
def api(stack, tmp_path_factory):
    with api_service(stack, tmp_path_factory.mktemp("stream")) as api:
        yield api


def _collect(url, key, commands, publish, until, timeout_s=60):
    # One bound on the whole exchange, closing included.
    coroutine = _collect_until(url, key, commands, publish, until, timeout_s)
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s + 15))


async def _collect_until(url, key, commands, publish, until, timeout_s):
    headers = {"Authorization": f"Bearer {key}"}
    got = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        for command in commands:
            await ws.send_json(command)
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "subscribed", reply
        await asyncio.to_thread(publish)
        deadline = time.monotonic() + timeout_s
        while not until(got):
            assert time.monotonic() < deadline, f"stream incomplete: {got[-3:]}"
            got.append(await ws.receive_json(timeout=deadline - time.monotonic()))
    return got


def test_stream__channels_carry_decimated_samples_gait_status_and_alerts(api, stack):
    device = "ws-live"
    t0 = recent_t0_us(60)
    frames, samples = walking_frames(device, t0, 20)
    last_t = t0 + (len(samples) - 1) * PERIOD_US
    gap = frames[:10] + frames[11:]  # seq 10 never comes: a gap alert
    status = {"device_id": device, "state": "online", "boot_id": 7}
    garbage = (f"gaitlink/v1/{device}/imu", b"GL not a frame")

    def publish():
        with gateway_publisher(stack, device) as client:
            messages = [*gap, (f"gaitlink/v1/{device}/status", json.dumps(status)), garbage]
            publish_all(client, messages)

    def complete(got):
        data = [s["time_us"] for m in got if m.get("channel", "").endswith(".data")
                for s in m["samples"]]  # fmt: skip
        kinds = {m.get("kind") for m in got if m.get("channel") == "alerts"}
        return (
            data and max(data) >= last_t - 40_000
            and any(m.get("type") == "cycle" for m in got)
            and any(m.get("channel", "").endswith(".status") for m in got)
            and {"gap", "dead_letter"} <= kinds
        )  # fmt: skip

    commands = [
        {"op": "subscribe", "channel": f"device.{device}.data", "rate_hz": 25},
        {"op": "subscribe", "channel": f"device.{device}.gait"},
        {"op": "subscribe", "channel": f"device.{device}.status"},
        {"op": "subscribe", "channel": "alerts"},
    ]
    url = f"http://127.0.0.1:{api.port}/v1/stream"
    got = _collect(url, api.keys["researcher"], commands, publish, complete)
    times = [s["time_us"] for m in got if m.get("channel", "").endswith(".data")
             for s in m["samples"]]  # fmt: skip
    # 25 Hz out of 100 Hz: every fourth sample, and none of the missing frame's.
    # (Writes may finish out of order, so sort: each is decimated on its own.)
    steps = {b - a for a, b in itertools.pairwise(sorted(times))}
    assert all(PERIOD_US <= step <= 40_000 + 50 * PERIOD_US for step in steps), steps
    assert 25 * 19 <= len(times) <= 25 * 20 + 20  # ~25 per second of the 19.5 s kept
    assert all(not (t0 + 500 * PERIOD_US <= t < t0 + 550 * PERIOD_US) for t in times)
    sample = next(m for m in got if m.get("channel", "").endswith(".data"))["samples"][0]
    assert set(sample) == {"time_us", "ax", "ay", "az", "gx", "gy", "gz", "q"}
    cycle = next(m for m in got if m.get("type") == "cycle")
    assert cycle["device"] == device and "cadence" in cycle
    alert = next(m for m in got if m.get("kind") == "dead_letter")
    assert alert["count"] >= 1 and alert["reason"]
    assert not any(m.get("type") == "dropped" for m in got)


def test_stream__needs_a_researcher_or_admin_key(api):
    async def handshake(key):
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        url = f"http://127.0.0.1:{api.port}/v1/stream"
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(handshake(None)) == 401
    assert asyncio.run(handshake(api.keys["device"])) == 403
    assert asyncio.run(handshake(api.keys["admin"])) == 101


def test_stream__a_slow_client_loses_its_oldest_messages_counted_and_never_slows_ingest(
    stack, tmp_path
):
    # A short client queue, so that the slow client overflows it soon. The raw client reads
    # nothing, pings included, for as long as a loaded machine takes to write 20 000
    # samples: a long heartbeat keeps the server from closing it as dead meanwhile.
    with api_service(stack, tmp_path, "--stream-queue", "8", "--stream-heartbeat-s", "600") as api:
        _slow_client(api, stack)


def _slow_client(api, stack):
    device = "ws-slow"
    n_frames = 400
    t0 = recent_t0_us(3600 - 60)  # 200 s of data that ends well before now
    payloads = [
        (f"gaitlink/v1/{device}/imu",
         encode_frame(_counts(i), boot_id=3, seq=i, t0_us=t0 + i * 50 * PERIOD_US))
        for i in range(n_frames)
    ]  # fmt: skip
    before = ingest_metrics(api.port)
    slow = RawWebSocket(api.port, api.keys["researcher"])
    try:
        assert slow.status == 101
        slow.send({"op": "subscribe", "channel": f"device.{device}.data", "rate_hz": 50})
        assert slow.receive()["type"] == "subscribed"
        # From here on the client reads nothing.
        with gateway_publisher(stack, device) as client:
            publish_all(client, payloads)
        where = f"WHERE device='{device}'"
        wait_until(lambda: count(stack, "imu", where) == n_frames * 50, 60, "every sample written")
        wait_until(
            lambda: (
                ingest_metrics(api.port)["lines_written"] - before["lines_written"] >= n_frames * 50
            ),
            10,
            "the ingest's own count",
        )
        stream = ingest_metrics(api.port)
        dropped = _stream_counter(api, "dropped")
        assert dropped > 0, "the tiny client buffer should have overflowed the queue"
        # Nothing vanished unaccounted: queued = sent + dropped + still waiting (<= 8).
        queued, sent = _stream_counter(api, "queued"), _stream_counter(api, "sent")
        assert 0 <= queued - sent - dropped <= 8
        assert stream["dead_letters"] == before["dead_letters"]
        # Now read: the client is told what it lost, and gets the newest samples.
        # Concurrent writes may finish out of order, so the newest samples need not come
        # last: read until every queued message is accounted for, not until a time is seen.
        # (The socket timeout bounds the wait if one is missing.)
        queued = _stream_counter(api, "queued")
        received, notices, newest = 0, [], 0
        while received + sum(n["count"] for n in notices) + 1 < queued:
            message = slow.receive()
            if message.get("type") == "dropped":
                notices.append(message)
                continue
            received += 1
            newest = max(newest, message["samples"][-1]["time_us"])
        assert sum(n["count"] for n in notices) == dropped == notices[-1]["total"]
        # What survived is what was offered last, which (writes finishing out of order) need
        # not hold the newest sample times; it is from the end of the run, not its start.
        assert newest >= t0 + n_frames // 2 * 50 * PERIOD_US
        # Every message queued for it (its "subscribed" reply too) arrived or was reported.
        assert received + dropped + 1 == queued == _stream_counter(api, "queued")
    finally:
        slow.close()


def _counts(seed):
    import numpy as np

    return np.random.default_rng(seed).integers(-2000, 2000, size=(50, 6), dtype=np.int16)


def _stream_counter(api, name):
    from prometheus_client.parser import text_string_to_metric_families

    _, _, text = api.call("/metrics")
    for family in text_string_to_metric_families(text):
        if family.name == f"gaitlink_stream_{name}":
            return int(family.samples[0].value)
    raise AssertionError(f"gaitlink_stream_{name} not in /metrics")
