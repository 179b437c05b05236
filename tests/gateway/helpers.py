"""Real brokers, frames and a cloud-side tally for the gateway's tests and fault tests."""

from __future__ import annotations

import struct
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.cloud.protocol.batch import decode_batch
from gaitlink.gateway.spool import Limits, Spool
from tests.cloud.frames import encode_frame

# The site broker as `gaitlink gateway install` configures it: a wide in-flight window.
SITE_EXTRA = ("max_inflight_messages 1000",)
ROOMY = Limits(max_bytes=1 << 30, max_age_s=3600, reserve_bytes=0)
_SEQ = struct.Struct("<I")


def frames(device: str, first: int, n: int, samples: int = 5) -> list[tuple[str, bytes]]:
    counts = np.zeros((samples, 6), dtype=np.int16)
    return [
        (f"gaitlink/v1/{device}/imu", encode_frame(counts, seq=s, t0_us=1_795_000_000_000_000 + s))
        for s in range(first, first + n)
    ]


def seq_of(payload: bytes) -> int:
    return _SEQ.unpack_from(payload, 8)[0]


def spool_at(directory: Path, limits: Limits = ROOMY) -> Spool:
    return Spool(directory / "spool.db", limits)


class CloudTally:
    """Counts every IMU frame the cloud broker delivers, per (device, seq): frames of their
    own and frames inside the gateway's batches (docs/protocol.md §2.5), split with the
    ingest's decoder.

    A persistent session, so frames the cloud broker queues while the tally is away (a
    cloud-broker restart) still reach it.
    """

    def __init__(self, port: int, client_id: str) -> None:
        self.seen: Counter[tuple[str, int]] = Counter()
        self.batches = 0  # batch messages; their frames count in `seen`
        self.out_of_order = 0
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        subscribed = threading.Event()
        self._client.on_connect = lambda c, *_: c.subscribe(
            [("gaitlink/v1/+/imu", 1), ("gaitlink/v1/+/imu/batch", 1)]
        )
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.2, 1)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        # Frames the cloud broker gets before the subscription would never reach the tally.
        if not subscribed.wait(10):
            raise AssertionError(f"tally: no SUBACK from the cloud broker on {port}")

    def _on_message(self, client, userdata, msg) -> None:
        device = msg.topic.split("/")[2]
        batch = msg.topic.endswith("/batch")
        payloads = decode_batch(msg.payload) if batch else [msg.payload]
        with self._lock:
            self.batches += batch
            for payload in payloads:
                seq = seq_of(payload)
                key = (device, seq)
                if self.seen[key] == 0 and seq < self._last.get(device, -1):
                    self.out_of_order += 1  # a first copy behind a later frame of its device
                self.seen[key] += 1
                self._last[device] = max(seq, self._last.get(device, -1))

    def distinct(self, device: str | None = None) -> int:
        with self._lock:
            return sum(1 for d, _ in self.seen if device is None or d == device)

    def duplicates(self) -> int:
        with self._lock:
            return sum(n - 1 for n in self.seen.values())

    def missing(self, device: str, n: int) -> list[int]:
        with self._lock:
            return [s for s in range(n) if (device, s) not in self.seen]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def publish(port: int, messages: list[tuple[str, bytes]], client_id: str = "pub") -> None:
    """Publish QoS 1 and wait for every PUBACK of the site broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


def gateway_metrics(port: int) -> dict[tuple[str, tuple], float]:
    """The gateway's /metrics as {(sample name, sorted label items): value}."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)
