"""The stream hub's own logic: bounded queues that drop the oldest, decimation, commands."""

import json

import pytest

from gaitlink.cloud.api.stream import SAMPLES_PER_MESSAGE, StreamHub
from gaitlink.cloud.influx.line import Point, encode_point


def _imu(device, n, t0=1_000_000, period=10_000):
    return "\n".join(
        encode_point(
            Point("imu", {"device": device, "placement": "foot"}, {"ax": float(i), "q": 0},
                  t0 + i * period)
        )
        for i in range(n)
    )  # fmt: skip


def _subscribed(hub, *commands):
    client = hub.attach()
    for command in commands:
        reply = client.command(json.dumps(command))
        assert reply["type"] == "subscribed", reply
    return client


def _messages(client):
    return [json.loads(m) for m in client.queue]


def test_stream_hub__decimates_to_the_asked_rate():
    hub = StreamHub()
    client = _subscribed(hub, {"op": "subscribe", "channel": "device.d-1.data", "rate_hz": 20})
    hub.written(_imu("d-1", 200) + "\n" + _imu("d-2", 50))  # 2 s at 100 Hz
    samples = [s for m in _messages(client) for s in m["samples"]]
    assert len(samples) == 40
    assert [s["time_us"] for s in samples] == [1_000_000 + k * 50_000 for k in range(40)]
    assert samples[1]["ax"] == 5.0 and all(
        m["channel"] == "device.d-1.data" for m in _messages(client)
    )


def test_stream_hub__a_full_queue_drops_the_oldest_and_counts():
    hub = StreamHub(queue_max=3)
    client = _subscribed(hub, {"op": "subscribe", "channel": "device.d-1.data", "rate_hz": 50})
    hub.written(_imu("d-1", 2 * 5 * SAMPLES_PER_MESSAGE, period=20_000))  # 10 messages
    assert len(client.queue) == 3
    assert client.dropped == hub.dropped_total == 7
    assert hub.queued_total == hub.sent_total + hub.dropped_total + len(client.queue)
    newest = _messages(client)[-1]["samples"][-1]["time_us"]
    assert newest == 1_000_000 + (10 * SAMPLES_PER_MESSAGE - 1) * 20_000


def test_stream_hub__gait_status_and_alerts_reach_their_channels():
    hub = StreamHub()
    client = _subscribed(
        hub,
        {"op": "subscribe", "channel": "device.d-1.gait"},
        {"op": "subscribe", "channel": "device.d-1.status"},
        {"op": "subscribe", "channel": "alerts"},
    )
    lines = [
        encode_point(Point("gait_event", {"device": "d-1", "kind": "IC"}, {"delay_ms": 9.5}, 5)),
        encode_point(Point("gait_cycle", {"device": "d-2", "placement": "foot"}, {"x": 1.0}, 6)),
        encode_point(Point("device_status", {"device": "d-1"}, {"state": "online"}, 7)),
        encode_point(Point("ingest_quality", {"device": "d-3", "kind": "gap"}, {"seq": 4}, 8)),
    ]
    hub.written("\n".join(lines))
    hub.alert({"kind": "dead_letter", "reason": "bad_crc", "count": 2})
    got = _messages(client)
    assert [m["channel"] for m in got] == [
        "device.d-1.gait", "device.d-1.status", "alerts", "alerts",
    ]  # fmt: skip
    assert got[0]["type"] == "event" and got[0]["kind"] == "IC" and got[0]["time_us"] == 5
    assert got[2]["kind"] == "gap" and got[2]["device"] == "d-3"


def test_stream_hub__nobody_subscribed_costs_nothing():
    hub = StreamHub()
    hub.attach()
    hub.written("not line protocol at all")
    assert hub.queued_total == 0


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("not json", "expected"),
        ({"op": "subscribe", "channel": "device.BAD ID.data"}, "unknown channel"),
        ({"op": "subscribe", "channel": "everything"}, "unknown channel"),
        ({"op": "subscribe", "channel": "device.d-1.data", "rate_hz": 500}, "rate_hz"),
        ({"op": "subscribe", "channel": "device.d-1.data", "rate_hz": "fast"}, "rate_hz"),
        ({"op": "publish", "channel": "alerts"}, "unknown op"),
    ],
)
def test_stream_client__invalid_commands_are_answered_not_obeyed(command, problem):
    client = StreamHub().attach()
    text = command if isinstance(command, str) else json.dumps(command)
    reply = client.command(text)
    assert reply["type"] == "error" and problem in reply["detail"]
    assert client.subscriptions == {}


def test_stream_hub__data_messages_count_every_sample_received():
    hub = StreamHub()
    client = _subscribed(hub, {"op": "subscribe", "channel": "device.d-1.data", "rate_hz": 1})
    hub.written(_imu("d-1", 30))  # 0.3 s at 100 Hz: one sample sent, 30 received
    hub.written(_imu("d-1", 80, t0=1_300_000))  # up to 1.1 s: a second sample
    got = _messages(client)
    assert [len(m["samples"]) for m in got] == [1, 1]
    assert sum(m["received"] for m in got) == 110 and got[0]["received"] == 30


def test_stream_hub__env_readings_reach_their_channel_at_most_once_a_second():
    hub = StreamHub()
    client = _subscribed(hub, {"op": "subscribe", "channel": "device.d-1.env"})
    env = [
        encode_point(Point("env", {"device": d}, {"battery": 81.5, "rssi": -60.0}, t))
        for d, t in (("d-1", 1_000_000), ("d-1", 1_400_000), ("d-2", 1_500_000),
                     ("d-1", 2_100_000))
    ]  # fmt: skip
    hub.written("\n".join(env))
    (message,) = _messages(client)
    assert message["channel"] == "device.d-1.env"
    assert [(s["time_us"], s["battery"], s["rssi"]) for s in message["samples"]] == [
        (1_000_000, 81.5, -60.0), (2_100_000, 81.5, -60.0),
    ]  # fmt: skip


def test_stream_hub__devices_channel_names_each_device_once():
    hub = StreamHub()
    client = _subscribed(hub, {"op": "subscribe", "channel": "devices"})
    status = encode_point(Point("device_status", {"device": "d-3"}, {"state": "online"}, 7))
    hub.written(_imu("d-1", 5) + "\n" + _imu("d-2", 5) + "\n" + status)
    hub.written(_imu("d-1", 5, t0=2_000_000) + "\n" + _imu("d-4", 1))
    assert [m["device"] for m in _messages(client)] == ["d-1", "d-2", "d-3", "d-4"]


def test_stream_hub__config_reports_reach_the_status_channel():
    hub = StreamHub()
    client = _subscribed(hub, {"op": "subscribe", "channel": "device.d-1.status"})
    config = Point("device_config", {"device": "d-1", "status": "applied"},
                   {"version": 3, "desired_version": 3, "samples_per_frame": 25}, 9)  # fmt: skip
    hub.written(encode_point(config))
    (message,) = _messages(client)
    assert message["type"] == "config" and message["samples_per_frame"] == 25
