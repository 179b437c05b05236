"""The relay between the site broker and the cloud broker, through the durable spool.

Uplink (device data): a site message is written to the spool (gateway/spool.py) and acked
to the site broker only once the spool's commit has fsynced it; it is deleted from the
spool only after the cloud broker's PUBACK. So the site broker's queue for the relay's
session holds only what is in flight, and an outage of hours is held on the Pi's disk.

One thread, the spool thread, owns the spool. Each turn of its loop takes everything the
paho threads handed over since the last turn (new site messages, cloud PUBACKs), writes
it in one transaction, commits (one fsync for the whole group), acks the site, and then
tops up the cloud window: up to `window` spooled messages published and not yet acked,
oldest first, so per-device order is arrival order. Frames of one device taken in the same
turn go as one batch message (docs/protocol.md §2.5), deleted together at its PUBACK. While
the cloud is away the window fills and stops; the spool grows within its bounds.

Downlink (config, OTA: few, small, retained) is relayed hop by hop without the spool: acked
to the cloud broker after the site broker acked it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from gaitlink.gateway.batch import pack
from gaitlink.gateway.presence import Presence
from gaitlink.gateway.spool import Spool
from gaitlink.gateway.timesync import ntp_synchronized
from gaitlink.gateway.topics import (
    DOWNLINK_FILTERS,
    TIME_TOPIC,
    UPLINK_FILTERS,
    gateway_status_topic,
    is_retained,
)
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Link, Message, Will

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RelayCounters:
    uplink_received: int = 0  # spooled and acked to the site
    uplink_delivered: int = 0  # acked by the cloud
    uplink_republished: int = 0  # sent again from the spool after a restart
    # Frame batches published to the cloud (protocol §2.5), and the frames inside them.
    uplink_batches: int = 0
    uplink_batched_frames: int = 0
    downlink_received: int = 0
    downlink_delivered: int = 0
    # A downlink message the cloud delivered again while its first copy was on the way:
    # acked with the first, not published twice.
    redeliveries_merged: int = 0
    time_beacons: int = 0
    status_published: int = 0


class Relay:
    def __init__(
        self,
        site: Endpoint,
        cloud: Endpoint,
        spool: Spool,
        *,
        gateway_id: str = "gateway",
        time_beacon_s: float | None = 1.0,
        status_every_s: float = 10.0,
        window: int = 2000,
        batch_frames: int = 50,
        batch_bytes: int = 65536,
        presence_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        drain_on_stop_s: float = 2.0,
    ) -> None:
        if (site.host, site.port) == (cloud.host, cloud.port):
            raise ValueError(
                f"site and cloud broker are the same ({site}): the relay would feed its own "
                "subscriptions forever. Give --cloud the cloud broker's address."
            )
        self.gateway_id = gateway_id
        self.spool = spool
        self.presence = Presence(timeout_s=presence_timeout_s)
        self.counters = RelayCounters()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # Handed over by the paho threads, taken by the spool thread at each turn.
        self._incoming: list[Message] = []
        self._acked: list[int] = []  # spool ids, all the frames of each acked message
        # Spool ids published to the cloud and not yet acked -> (device, size), and the
        # highest one sent. The spool never drops these, so their acks remove them exactly.
        self._in_flight: dict[int, tuple[str, int]] = {}
        self._cursor = 0
        self._window = window
        # Frames of one device per cloud message (gateway/batch.py); 1: no batches.
        self._batch_frames = batch_frames
        self._batch_bytes = batch_bytes
        # Ids below this were in the spool at start: sending them again may duplicate.
        self._restart_horizon = spool.last_id()
        # Downlink: (topic, payload) -> cloud messages waiting for the site's ack.
        self._pending: dict[tuple[str, bytes], list[Message]] = {}
        self.status_topic = gateway_status_topic(gateway_id)
        self._status_due = threading.Event()  # set at each cloud connect: publish now
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
            will=Will(self.status_topic, json.dumps({"state": "offline"}).encode()),
            # 0: no limit in paho, whose in-flight bookkeeping scans every queued message
            # at each PUBACK; the relay window bounds what is in flight instead.
            max_inflight=0,
            # MQTT 5 for the status's expiry (_status_loop); a fresh status at each connect.
            mqtt5=True,
            on_connected=self._status_due.set,
        )
        self._time_beacon_s = time_beacon_s
        self._status_every_s = status_every_s
        self._connect_timeout_s = connect_timeout_s
        self._drain_on_stop_s = drain_on_stop_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.cloud_down_since: float | None = None
        self.started_at = time.time()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        # Cloud first: uplink messages arrive as soon as the site session resumes.
        self.cloud.start(self._connect_timeout_s)
        try:
            self.site.start(self._connect_timeout_s)
        except Exception:
            self.cloud.stop()
            raise
        self._spawn("spool", self._spool_loop)
        self._spawn("status", self._status_loop)
        if self._time_beacon_s:
            self._spawn("beacon", self._beacon_loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        # The site first: what it sends from now on stays in its queue for the next run.
        self.site.stop()
        self._stop.set()
        self._wake.set()
        self._status_due.set()
        for thread in self._threads:
            thread.join()
        self.cloud.publish(self.status_topic, self._status_payload("offline"), retain=True)
        self.cloud.stop()
        self.spool.close()

    # -- paho threads: hand over and wake the spool thread ---------------------------
    def _uplink(self, message: Message) -> None:
        with self._lock:
            self._incoming.append(message)
        if not self._wake.is_set():  # set() takes a lock and notifies: skip it when it is
            self._wake.set()

    def _cloud_acked(self, spool_ids: tuple[int, ...]) -> None:
        with self._lock:
            self._acked.extend(spool_ids)
        if not self._wake.is_set():
            self._wake.set()

    # -- the spool thread ------------------------------------------------------------
    def _spool_loop(self) -> None:
        next_housekeeping = 0.0
        drain_until: float | None = None
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            stopping = self._stop.is_set()
            with self._lock:
                incoming, self._incoming = self._incoming, []
                acked, self._acked = self._acked, []
            if stopping:
                # The site link is closed: these can no longer be acked, so the site
                # broker sends them again to the next run; spooling them now would only
                # make duplicates.
                incoming = []
            now = time.time()
            housekeeping = now >= next_housekeeping
            try:
                self._turn(incoming, acked, now, housekeeping)
            except Exception:
                # Nothing was acked to the site for this turn: the site broker keeps it and
                # sends it again after the next reconnect. Going on keeps the link alive.
                log.exception("spool turn failed; %d site messages stay unacked", len(incoming))
                self._recover()
            if housekeeping:
                next_housekeeping = now + 1.0
            if stopping:
                # Wait a moment for the cloud's acks, so that what it has is not sent again.
                drain_until = drain_until or now + self._drain_on_stop_s
                if not self._in_flight or now >= drain_until:
                    return

    def _recover(self) -> None:
        # The turn's deletions may be undone too: send everything in the spool again from
        # the start (duplicates, which the ingest drops) rather than lose track of a row.
        try:
            self.spool.recover()
        except Exception:
            log.exception("spool recovery failed; retrying at the next turn")
        self._in_flight.clear()
        self._cursor = 0
        self.spool.in_flight_through = 0

    def _turn(self, incoming: list[Message], acked: list[int], now: float, housekeeping: bool):
        spool = self.spool
        if incoming:
            spool.add(((m.topic, m.payload) for m in incoming), now)
            self.presence.saw(incoming, now)
        # Acks of ids no longer in flight (sent before a recovery) are left: those rows are
        # sent again, and their new acks remove them.
        in_flight = self._in_flight
        delivered = [(i, *in_flight.pop(i)) for i in acked if i in in_flight]
        if delivered:
            spool.remove_delivered(delivered)
        if housekeeping:
            spool.housekeeping(now)
        spool.commit()
        # Durable now: the site broker may forget them.
        for message in incoming:
            self.site.ack(message)
        with self._lock:
            self.counters.uplink_received += len(incoming)
            self.counters.uplink_delivered += len(delivered)
        if not self._stop.is_set():
            self._top_up_window()

    def _top_up_window(self) -> None:
        room = self._window - len(self._in_flight)
        # Nothing new for paho while the cloud is away: it would only hold it in memory,
        # where the spool's bounds cannot see it.
        if room <= 0 or not self.cloud.connected:
            return
        rows = self.spool.after(self._cursor, room)
        republished = 0
        for stored in rows:
            self._in_flight[stored.id] = (stored.device, stored.size)
            if stored.id <= self._restart_horizon:
                republished += 1
        if rows:
            self._cursor = rows[-1].id
        self.spool.in_flight_through = self._cursor
        # What is spooled and not yet sent goes in batches per device: nothing waits for
        # a batch to fill, so a batch forms only when frames queued up (a burst, a drain).
        batches = batched = 0
        for out in pack(rows, self._batch_frames, self._batch_bytes):
            if len(out.ids) > 1:
                batches += 1
                batched += len(out.ids)
            self.cloud.publish(
                out.topic,
                out.payload,
                qos=1,
                retain=is_retained(out.topic),
                on_acked=lambda ids=out.ids: self._cloud_acked(ids),
            )
        if republished or batches:
            with self._lock:
                self.counters.uplink_republished += republished
                self.counters.uplink_batches += batches
                self.counters.uplink_batched_frames += batched

    # -- downlink --------------------------------------------------------------------
    def _downlink(self, message: Message) -> None:
        key = (message.topic, message.payload)
        with self._lock:
            self.counters.downlink_received += 1
            waiting = self._pending.get(key)
            if waiting is not None:
                # The cloud reconnected and redelivered it; the first copy's ack covers it.
                waiting.append(message)
                self.counters.redeliveries_merged += 1
                return
            self._pending[key] = [message]

        def delivered() -> None:
            with self._lock:
                messages = self._pending.pop(key, [])
                self.counters.downlink_delivered += 1
            for m in messages:
                self.cloud.ack(m)

        self.site.publish(
            message.topic, message.payload, qos=1, retain=is_retained(message.topic),
            on_acked=delivered,
        )  # fmt: skip

    # -- beacon and status -----------------------------------------------------------
    def _beacon_loop(self) -> None:
        while not self._stop.wait(self._time_beacon_s):
            payload = {
                "t_us": time.time_ns() // 1000,
                "source": "gateway",
                "ntp_synced": ntp_synchronized(),
            }
            try:
                self.site.publish(TIME_TOPIC, json.dumps(payload).encode(), qos=0)
            except Exception:
                # One failed beacon must not end the beacons: devices resync on the next.
                log.exception("time beacon not sent")
                continue
            with self._lock:
                self.counters.time_beacons += 1

    def _status_payload(self, state: str) -> bytes:
        snapshot = self.snapshot()
        return json.dumps(
            {
                "gateway_id": self.gateway_id,
                "state": state,
                "t_us": time.time_ns() // 1000,
                "spool_messages": snapshot["spool_messages"],
                "spool_bytes": snapshot["spool_bytes"],
                "spool_oldest_age_s": round(snapshot["spool_oldest_age_s"], 3),
                "ntp_synced": ntp_synchronized(),
                "devices": self.presence.report(time.time()),
            },
            separators=(",", ":"),
        ).encode()

    def status_expiry_s(self) -> int:
        """How long the cloud broker keeps an "online" status that is not renewed.

        The last will says "offline" when the broker sees the gateway go, but a broker that
        crashes (or loses power) forgets the will, and would keep the retained "online"
        after it restarts, for a gateway that may have stopped meanwhile. So "online"
        expires unless renewed: three status periods, so one late status does not blank it.
        """
        return max(1, math.ceil(3 * self._status_every_s))

    def _status_loop(self) -> None:
        while True:
            self._track_cloud_link()
            # Only while connected: paho would queue every status of a long outage in
            # memory, and only the last one matters (it is retained).
            if self.cloud.connected:
                try:
                    self.cloud.publish(
                        self.status_topic, self._status_payload("online"), retain=True,
                        expiry_s=self.status_expiry_s(),
                    )  # fmt: skip
                    with self._lock:
                        self.counters.status_published += 1
                except Exception:
                    log.exception("gateway status not published")
            # A (re)connect wakes it: the broker may hold the will's "offline" or nothing.
            self._status_due.wait(self._status_every_s)
            self._status_due.clear()
            if self._stop.is_set():
                return

    def _track_cloud_link(self) -> None:
        if self.cloud.connected:
            self.cloud_down_since = None
        elif self.cloud_down_since is None:
            self.cloud_down_since = time.time()

    # -- reporting -------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            stats = asdict(self.counters)
            stats["pending_forwards"] = len(self._pending) + len(self._incoming)
        spool = self.spool
        stats["in_flight_to_cloud"] = len(self._in_flight)
        stats["spool_messages"] = spool.messages
        stats["spool_bytes"] = spool.bytes
        stats["spool_oldest_age_s"] = spool.oldest_age_s()
        stats["spool_dropped"] = sum(dict(spool.dropped).values())
        stats["spool_commits"] = spool.commits
        stats["site_connected"] = self.site.connected
        stats["cloud_connected"] = self.cloud.connected
        stats["site_reconnects"] = max(0, self.site.connects - 1)
        stats["cloud_reconnects"] = max(0, self.cloud.connects - 1)
        return stats
