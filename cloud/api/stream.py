"""The live stream behind `GET /v1/stream`: channels, per-client bounded queues, decimation.

Channels: `device.{id}.data` (samples, decimated to the rate the client asks, at most
50 Hz; each message also says how many samples were `received` since the previous one, so
a client can tell the device's real rate), `device.{id}.gait` (events and cycles),
`device.{id}.status` (status reports and config reports), `device.{id}.env` (environment,
battery and RSSI; at most one reading per second), `devices` (each device id once per
connection, when its first data is written after the subscription) and `alerts` (data
quality incidents, dead letters, InfluxDB stalls). The hub is fed what InfluxDB accepted
(see writes.py), on the event loop, and only appends to queues: a client that reads slowly
loses its oldest messages, is told how many, and never slows the ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import deque
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from gaitlink.cloud.api.lines import LineError, parse_line
from gaitlink.cloud.protocol.messages import DEVICE_ID_PATTERN

MAX_RATE_HZ = 50.0
DEFAULT_RATE_HZ = 10.0
# Samples per data message: a backlog becomes many small messages, not one huge one.
SAMPLES_PER_MESSAGE = 50
# The fleet page takes 3 per device (status, env, data) and 2 more (devices, alerts).
MAX_SUBSCRIPTIONS = 256
# env readings come every few seconds at most; one a second bounds a misbehaving device.
ENV_PERIOD_US = 1_000_000
# Device ids a connection is told about on `devices`; past this, new ones are not
# announced (counted in `unannounced`): a fleet that big needs paging, not a table.
MAX_ANNOUNCED = 4096
_CHANNEL = re.compile(r"device\.(" + DEVICE_ID_PATTERN.strip("^$") + r")\.(data|gait|status|env)\Z")
_GAIT = ("gait_event", "gait_cycle")
_STATUS = ("device_status", "device_config")
_DEVICE_TAG = re.compile(r",device=([^, ]+)")


@dataclass(slots=True)
class Subscription:
    channel: str
    period_us: int = 0
    next_us: int = 0  # data, env: time of the next sample to send
    received: int = 0  # data: samples written since the last message (not yet reported)


class StreamClient:
    def __init__(self, hub: StreamHub, queue_max: int) -> None:
        self._hub = hub
        self.queue: deque[str] = deque()
        self.queue_max = queue_max
        self.dropped = 0
        self.unreported = 0
        self.wake = asyncio.Event()
        self.subscriptions: dict[str, Subscription] = {}
        self.announced: set[str] = set()  # device ids sent on `devices`
        self.unannounced = 0

    def offer(self, message: dict) -> None:
        if len(self.queue) >= self.queue_max:
            self.queue.popleft()  # drop the oldest: a live view wants what is new
            self.dropped += 1
            self.unreported += 1
            self._hub.dropped_total += 1
        self.queue.append(json.dumps(message, separators=(",", ":")))
        self._hub.queued_total += 1
        self.wake.set()

    def command(self, text: str) -> dict:
        """Apply one client command; returns the reply to queue."""
        try:
            cmd = json.loads(text)
            op, channel = cmd["op"], cmd["channel"]
        except (ValueError, KeyError, TypeError):
            return _error('expected {"op": "subscribe"|"unsubscribe", "channel": ...}')
        if op == "unsubscribe":
            self.subscriptions.pop(channel, None)
            return {"type": "unsubscribed", "channel": channel}
        if op != "subscribe":
            return _error(f"unknown op {op!r}")
        match = _CHANNEL.match(channel) if isinstance(channel, str) else None
        if channel not in ("alerts", "devices") and match is None:
            return _error(
                f"unknown channel {channel!r}: device.ID.data, device.ID.gait, "
                "device.ID.status, device.ID.env, devices or alerts"
            )
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS and channel not in self.subscriptions:
            return _error(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        reply = {"type": "subscribed", "channel": channel}
        sub = Subscription(channel)
        if match is not None and match.group(2) == "data":
            rate = cmd.get("rate_hz", DEFAULT_RATE_HZ)
            if not isinstance(rate, int | float) or not 0 < rate <= MAX_RATE_HZ:
                return _error(f"rate_hz must be > 0 and <= {MAX_RATE_HZ:g}")
            sub.period_us = round(1e6 / rate)
            reply["rate_hz"] = rate
        elif match is not None and match.group(2) == "env":
            sub.period_us = ENV_PERIOD_US
        self.subscriptions[channel] = sub
        return reply


def _error(detail: str) -> dict:
    return {"type": "error", "detail": detail}


class StreamHub:
    def __init__(
        self, *, queue_max: int = 256, max_clients: int = 64, heartbeat_s: float = 30.0
    ) -> None:
        self.queue_max = queue_max
        self.max_clients = max_clients
        # A client that answers no ping for 1.5 heartbeats is dead and is closed.
        self.heartbeat_s = heartbeat_s
        self.clients: set[StreamClient] = set()
        self.queued_total = 0
        self.sent_total = 0
        self.dropped_total = 0

    def attach(self) -> StreamClient:
        client = StreamClient(self, self.queue_max)
        self.clients.add(client)
        return client

    def detach(self, client: StreamClient) -> None:
        self.clients.discard(client)

    def _subscribers(self, channel: str) -> list[tuple[StreamClient, Subscription]]:
        return [(c, c.subscriptions[channel]) for c in self.clients if channel in c.subscriptions]

    def alert(self, alert: dict) -> None:
        for client, _ in self._subscribers("alerts"):
            client.offer({"channel": "alerts", **alert})

    def written(self, body: str) -> None:
        """Lines InfluxDB just accepted: route them to the channels that want them."""
        if not any(c.subscriptions for c in self.clients):
            return  # nobody listens: no work on the ingest's path at all
        wanted = {ch for c in self.clients for ch in c.subscriptions}
        # Tags are written in sorted order (line.tag_set), so `device` comes first.
        timed_prefixes = tuple(
            f"{'imu' if kind == 'data' else 'env'},device={device}{',' if kind == 'data' else ' '}"
            for device, kind in (_device_kind(ch) for ch in wanted)
            if kind in ("data", "env")
        )
        announce = "devices" in wanted
        seen: set[str] = set()
        timed: dict[str, list[tuple[int, str]]] = {}
        for line in body.split("\n"):
            if announce and (device := _device_of(line)):
                seen.add(device)
            if timed_prefixes and line.startswith(timed_prefixes):
                kind = "data" if line.startswith("imu,") else "env"
                start = line.index("=") + 1
                device = line[start : line.index("," if kind == "data" else " ", start)]
                timed.setdefault(f"device.{device}.{kind}", []).append(
                    (int(line.rpartition(" ")[2]), line)
                )
            elif line.startswith(("gait_", "device_status", "device_config", "ingest_quality")):
                self._event(line, wanted)
        for channel, lines in timed.items():
            for client, sub in self._subscribers(channel):
                self._decimated(client, sub, lines)
        if seen:
            for client, _ in self._subscribers("devices"):
                self._announce(client, seen)

    @staticmethod
    def _announce(client: StreamClient, seen: set[str]) -> None:
        for device in sorted(seen - client.announced):
            if len(client.announced) >= MAX_ANNOUNCED:
                client.unannounced += 1
                continue
            client.announced.add(device)
            client.offer({"channel": "devices", "device": device})

    def _event(self, line: str, wanted: set[str]) -> None:
        try:
            point = parse_line(line)
        except LineError:
            return
        device = point.tags.get("device", "")
        row = {**point.tags, **point.fields, "time_us": point.time_us}
        if point.measurement in _GAIT:
            channel = f"device.{device}.gait"
            row["type"] = point.measurement.removeprefix("gait_")
        elif point.measurement in _STATUS:
            channel = f"device.{device}.status"
            row["type"] = "config" if point.measurement == "device_config" else "status"
        else:  # ingest_quality: a gap, seq jump, late frame, clock step...
            channel = "alerts"
        if channel in wanted:
            for client, _ in self._subscribers(channel):
                client.offer({"channel": channel, **row})

    @staticmethod
    def _decimated(client: StreamClient, sub: Subscription, timed: list[tuple[int, str]]) -> None:
        batch: list[dict] = []
        sub.received += len(timed)
        for t, line in timed:
            if t < sub.next_us - sub.period_us:
                # Concurrent writes can finish out of order: an older batch after a newer
                # one. Decimate it on its own rather than skip it as already sent.
                sub.next_us = t
            if t < sub.next_us:
                continue
            sub.next_us = t + sub.period_us
            try:
                point = parse_line(line)
            except LineError:
                continue
            batch.append({"time_us": t, **point.fields})
            if len(batch) == SAMPLES_PER_MESSAGE:
                StreamHub._send_samples(client, sub, batch)
                batch = []
        if batch:
            StreamHub._send_samples(client, sub, batch)

    @staticmethod
    def _send_samples(client: StreamClient, sub: Subscription, batch: list[dict]) -> None:
        client.offer({"channel": sub.channel, "samples": batch, "received": sub.received})
        sub.received = 0


def _device_kind(channel: str) -> tuple[str, str]:
    parts = channel.split(".")
    return (parts[1], parts[2]) if len(parts) == 3 else ("", "")


def _device_of(line: str) -> str:
    """The `device` tag of a line ("" when it has none)."""
    match = _DEVICE_TAG.search(line, 0, max(line.find(" "), 0))
    return match.group(1) if match else ""


async def serve(request: web.Request, hub: StreamHub) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=hub.heartbeat_s, max_msg_size=4096)
    await ws.prepare(request)
    client = hub.attach()
    sender = asyncio.create_task(_send(ws, client, hub))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                client.offer(client.command(msg.data))
            elif msg.type is WSMsgType.BINARY:
                client.offer(_error("commands are JSON text"))
    finally:
        hub.detach(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


async def _send(ws: web.WebSocketResponse, client: StreamClient, hub: StreamHub) -> None:
    with contextlib.suppress(ConnectionError):
        while not ws.closed:
            await client.wake.wait()
            client.wake.clear()
            while client.queue:
                if client.unreported:
                    notice = {
                        "type": "dropped",
                        "count": client.unreported,
                        "total": client.dropped,
                    }
                    client.unreported = 0
                    await ws.send_str(json.dumps(notice, separators=(",", ":")))
                # A slow reader blocks here, in its own task; the hub only appends.
                await ws.send_str(client.queue.popleft())
                hub.sent_total += 1
