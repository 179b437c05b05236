"""The relay between the site broker and the cloud broker.

Uplink (device data) and downlink (config, OTA) are both QoS 1 and acknowledged hop by
hop: a message is acked to the broker it came from only after the broker it goes to has
acked it. Until then the source broker keeps it in the relay's persistent session, so a
gateway crash or restart loses nothing.

During a cloud outage the store is the site broker's queue for the relay's session, which
is bounded by mosquitto's `max_queued_messages`; past it mosquitto drops messages and logs
"Outgoing messages are being dropped". The relay cannot see those drops (mosquitto 2.0
does not count them in $SYS), but they are not silent: every IMU frame carries a seq, and
the ingest counts and records each gap (ingest_quality, kind=gap). A disk spool on the
gateway, acked to the site once written, is the next step.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass

from gaitlink.gateway.topics import DOWNLINK_FILTERS, TIME_TOPIC, UPLINK_FILTERS, is_retained
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Link, Message

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RelayCounters:
    uplink_received: int = 0
    uplink_delivered: int = 0
    downlink_received: int = 0
    downlink_delivered: int = 0
    # A message the source broker delivered again while its first copy was still on the
    # way: acked with the first, not published twice.
    redeliveries_merged: int = 0
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
        if (site.host, site.port) == (cloud.host, cloud.port):
            raise ValueError(
                f"site and cloud broker are the same ({site}): the relay would feed its own "
                "subscriptions forever. Give --cloud the cloud broker's address."
            )
        self.counters = RelayCounters()
        self._count_lock = threading.Lock()
        # (topic, payload) -> source messages waiting for the target's ack. Bounded by the
        # source broker's in-flight window: it sends no more unacked messages than that.
        self._pending: dict[tuple[str, bytes], list[Message]] = {}
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
            stats["pending_forwards"] = len(self._pending)
        stats["awaiting_cloud_ack"] = self.cloud.awaiting_ack
        stats["awaiting_site_ack"] = self.site.awaiting_ack
        return stats

    def _count(self, name: str, by: int = 1) -> None:
        with self._count_lock:
            setattr(self.counters, name, getattr(self.counters, name) + by)

    def _forward(self, message: Message, source: Link, target: Link, direction: str) -> None:
        self._count(f"{direction}_received")
        key = (message.topic, message.payload)
        with self._count_lock:
            waiting = self._pending.get(key)
            if waiting is not None:
                # The source reconnected and redelivered it; the first copy's ack covers it.
                waiting.append(message)
                self.counters.redeliveries_merged += 1
                return
            self._pending[key] = [message]

        def delivered() -> None:
            with self._count_lock:
                messages = self._pending.pop(key, [])
            self._count(f"{direction}_delivered")
            for m in messages:
                source.ack(m)

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
            try:
                self.site.publish(TIME_TOPIC, payload.encode(), qos=0)
            except Exception:
                # One failed beacon must not end the beacons: devices resync on the next.
                log.exception("time beacon not sent")
                continue
            self._count("time_beacons")
