"""The relay between the site broker and the cloud broker.

Uplink (device data) and downlink (config, OTA) are both QoS 1 and acknowledged hop by
hop: a message is acked to the broker it came from only after the broker it goes to has
acked it. Until then the source broker keeps it (persistent session), so a gateway crash
or a cloud outage loses nothing; the site broker's queue is the store in this version.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass

from gateway.endpoint import Endpoint
from gateway.link import Link, Message
from gateway.topics import DOWNLINK_FILTERS, TIME_TOPIC, UPLINK_FILTERS, is_retained

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RelayCounters:
    uplink_received: int = 0
    uplink_delivered: int = 0
    downlink_received: int = 0
    downlink_delivered: int = 0
    time_beacons: int = 0


class Relay:
    def __init__(
        self,
        site: Endpoint,
        cloud: Endpoint,
        *,
        gateway_id: str = "gateway",
        time_beacon_s: float | None = 1.0,
    ) -> None:
        self.counters = RelayCounters()
        self._count_lock = threading.Lock()
        self.site = Link(
            site,
            f"gaitlink-gw-{gateway_id}-site",
            subscriptions=UPLINK_FILTERS,
            on_message=self._uplink,
        )
        self.cloud = Link(
            cloud,
            f"gaitlink-gw-{gateway_id}-cloud",
            subscriptions=DOWNLINK_FILTERS,
            on_message=self._downlink,
        )
        self._time_beacon_s = time_beacon_s
        self._stop = threading.Event()
        self._beacon: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        # Cloud first: uplink messages arrive as soon as the site session resumes.
        self.cloud.start(timeout_s)
        try:
            self.site.start(timeout_s)
        except Exception:
            self.cloud.stop()
            raise
        if self._time_beacon_s:
            self._beacon = threading.Thread(target=self._beacon_loop, name="beacon", daemon=True)
            self._beacon.start()

    def stop(self) -> None:
        self._stop.set()
        if self._beacon is not None:
            self._beacon.join()
        self.site.stop()
        self.cloud.stop()

    def snapshot(self) -> dict[str, int]:
        with self._count_lock:
            stats = asdict(self.counters)
        stats["awaiting_cloud_ack"] = self.cloud.awaiting_ack
        stats["awaiting_site_ack"] = self.site.awaiting_ack
        return stats

    def _count(self, name: str) -> None:
        with self._count_lock:
            setattr(self.counters, name, getattr(self.counters, name) + 1)

    def _forward(self, message: Message, source: Link, target: Link, direction: str) -> None:
        self._count(f"{direction}_received")

        def delivered() -> None:
            source.ack(message)
            self._count(f"{direction}_delivered")

        target.publish(
            message.topic,
            message.payload,
            qos=1,
            retain=is_retained(message.topic),
            on_acked=delivered,
        )

    def _uplink(self, message: Message) -> None:
        self._forward(message, self.site, self.cloud, "uplink")

    def _downlink(self, message: Message) -> None:
        self._forward(message, self.cloud, self.site, "downlink")

    def _beacon_loop(self) -> None:
        while not self._stop.wait(self._time_beacon_s):
            payload = json.dumps({"t_us": time.time_ns() // 1000, "source": "gateway"})
            self.site.publish(TIME_TOPIC, payload.encode(), qos=0)
            self._count("time_beacons")
