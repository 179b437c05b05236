"""One MQTT connection: the only module that touches paho-mqtt.

It owns the paho client (callback API version 2), its network thread and its reconnect
policy. The rest of the code sees `Message`s and calls `publish` / `ack`; nothing else
holds a socket. The cloud ingest uses this module too, so the project has one paho wrapper.

Delivery is at-least-once end to end: incoming QoS 1 messages are acknowledged by the
application (`ack`), never by paho on its own, so a broker keeps a message until the
application has passed it on; and `publish(..., on_acked=...)` calls back only when the
next broker has acknowledged it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.mqtt.endpoint import Endpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class LinkError(ConnectionError):
    pass


class _BufferedSocket:
    """A socket whose reads come from a 64 kB user-space buffer.

    paho reads a packet in three or more recv() calls (1 byte of command, the length byte
    by byte, then the body), a system call each: at thousands of messages per second that
    was a fifth of the gateway's CPU (py-spy). One recv() now fills the buffer for many
    packets. `pending()` is paho's own hook for data that select() cannot see (it exists
    for TLS sockets): with bytes pending, paho reads again without waiting in select().
    Everything else is the wrapped socket's (TLS or not).
    """

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0  # read up to here; slicing from an offset copies only what is read

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data = self._sock.recv(max(bufsize, 65536))
            if len(data) <= bufsize:
                return data
            self._buf, self._pos = data, 0
        end = self._pos + bufsize
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return max(0, len(self._buf) - self._pos) + (inner() if inner is not None else 0)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _Client(mqtt.Client):
    def _create_socket(self):  # paho 2.x: the one place a connection's socket is made
        return _BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1):
        # paho reads at most len(out) + len(in) packets per call (one, for a subscriber
        # that acks by hand), then goes back to select(); read on while whole packets wait
        # in the buffer, which costs no system call.
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTT_ERR_SUCCESS and self._sock is not None and self._sock.pending():
            before = self._sock.pending()
            rc = super().loop_read(max_packets)
            if self._sock is not None and self._sock.pending() >= before:
                break  # a partial packet: the rest comes with the next select()
        return rc


def configure(client: mqtt.Client, endpoint: Endpoint) -> None:
    """Credentials and TLS of `endpoint` on a paho client (also for tests' raw clients)."""
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        # Verifies the chain and the host name; None: the system's CAs.
        client.tls_set(ca_certs=str(endpoint.ca_file) if endpoint.ca_file else None)


def _nothing() -> None:
    pass


class Link:
    def __init__(
        self,
        endpoint: Endpoint,
        client_id: str,
        *,
        subscriptions: Iterable[str] = (),
        on_message: Callable[[Message], None] | None = None,
        clean_session: bool = False,
        will: Will | None = None,
        keepalive_s: int = 30,
        max_inflight: int = 100,
    ) -> None:
        self.endpoint = endpoint
        self._subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._connected = threading.Event()
        self._refused: str | None = None  # why the broker refused the last CONNECT
        self._answered = threading.Event()  # a CONNACK came, accepted or not
        self._lock = threading.Lock()
        # mid -> callback for QoS 1 publishes awaiting PUBACK; QoS 0 publishes awaiting
        # their write (paho reports those through on_publish too, with mids from the same
        # 16-bit counter); mids whose report beat the bookkeeping (paho may call
        # on_publish before publish() returns to us).
        self._awaiting: dict[int, Callable[[], None]] = {}
        self._awaiting_qos0: set[int] = set()
        self._early: set[int] = set()
        self.connects = 0
        self.disconnects = 0
        self._keepalive_s = keepalive_s

        # clean_session=False with a fixed client id: the broker queues QoS 1 messages for
        # us while we are away and redelivers the ones we never acknowledged.
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            manual_ack=True,
        )
        client.enable_logger(log)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.max_inflight_messages_set(max_inflight)
        # 0 = unbounded in paho. The relay bounds it: each publish answers a message it has
        # not yet acked, the source broker sends at most its in-flight window of those, and
        # a redelivered message is not published twice (relay.py).
        client.max_queued_messages_set(0)
        configure(client, endpoint)
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        self._client = client

    # -- lifecycle -------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and start the network thread; raise LinkError if no CONNACK in time."""
        try:
            self._client.connect(self.endpoint.host, self.endpoint.port, self._keepalive_s)
        except OSError as exc:
            raise LinkError(
                f"cannot reach MQTT broker at {self.endpoint}: {exc}. Is it running? "
                "(`gaitlink stack status` shows the local stack)"
            ) from exc
        self._client.loop_start()
        self._answered.wait(timeout_s)
        if not self._connected.is_set():
            self.stop()
            if self._refused is not None:
                raise LinkError(
                    f"MQTT broker at {self.endpoint} refused the login as "
                    f"{self.endpoint.username or '(no username)'}: {self._refused}. Check the "
                    "username and the password file (`gaitlink stack up` prints both)."
                )
            raise LinkError(f"MQTT broker at {self.endpoint} did not accept the connection")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- traffic ---------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        on_acked: Callable[[], None] | None = None,
    ) -> None:
        """Queue a publish; paho sends it now or after the next reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise LinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        # Every publish paho will report is booked, so that each on_publish is consumed by
        # exactly one booking and no stale mid lingers for a later publish to match after
        # paho's 16-bit mids wrap. A QoS 0 publish made while disconnected is never sent
        # nor reported, so it is not booked.
        if qos == 0:
            if on_acked is not None:
                on_acked()
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                else:
                    self._awaiting_qos0.add(info.mid)
            return
        on_acked = on_acked or _nothing
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                early = True
            else:
                self._awaiting[info.mid] = on_acked
                early = False
        if early:
            on_acked()

    def ack(self, message: Message) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    @property
    def awaiting_ack(self) -> int:
        with self._lock:
            return len(self._awaiting)

    # -- paho callbacks (network thread) ---------------------------------------------
    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker %s refused connection: %s", self.endpoint, reason_code)
            self._refused = str(reason_code)
            self._answered.set()
            return
        self.connects += 1
        with self._lock:
            # QoS 0 packets queued before the disconnect were discarded by paho unsent.
            self._awaiting_qos0.clear()
        # A resumed session keeps its subscriptions; subscribing again would make the
        # broker resend every retained message (MQTT 3.1.1 §3.3.1.3) at each reconnect.
        if not flags.session_present:
            for topic in self._subscriptions:
                client.subscribe(topic, qos=1)
        self._connected.set()
        self._answered.set()
        log.info("connected to %s (session present: %s)", self.endpoint, flags.session_present)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            self.disconnects += 1
            log.warning("disconnected from %s: %s", self.endpoint, reason_code)
        self._connected.clear()

    def _handle_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if self._on_message is None:
            return
        message = Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), msg.mid)
        try:
            self._on_message(message)
        except Exception:
            # A handler bug must not kill paho's thread; the message stays unacked and the
            # broker redelivers it after the next reconnect.
            log.exception("handler failed on %s", msg.topic)

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            callback = self._awaiting.pop(mid, None)
            if callback is None:
                if mid in self._awaiting_qos0:
                    self._awaiting_qos0.discard(mid)
                    return
                self._early.add(mid)
        if callback is not None:
            callback()
