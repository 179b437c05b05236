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

import contextlib
import logging
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

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


_PUBLISH, _DISCONNECT = mqtt.PUBLISH, mqtt.DISCONNECT
# Bytes joined into one send(): a few dozen frames; more would only copy more per partial send.
_COALESCE_BYTES = 65536
_ASKED_TO_DISCONNECT = (
    mqtt._ConnectionState.MQTT_CS_DISCONNECTING,
    mqtt._ConnectionState.MQTT_CS_DISCONNECTED,
)
# A PUBACK (MQTT 3.1.1 §3.4): fixed header, remaining length 2, then the message id.
_PUBACK_HEAD = bytes([mqtt.PUBACK, 2])
_MID = struct.Struct("!H")
# What paho hands on_publish for a plain PUBACK; built once, read only.
_PUBACK_OK = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)


class _Client(mqtt.Client):
    def _create_socket(self):  # paho 2.x: the one place a connection's socket is made
        return _BufferedSocket(super()._create_socket())

    _filtered = False  # message_callback_add() was used: paho's own dispatch

    def __init__(self, *args, **kwargs) -> None:
        self._queue_lock = threading.Lock()  # _packet_queue's, see there
        super().__init__(*args, **kwargs)

    def message_callback_add(self, sub, callback):
        self._filtered = True
        super().message_callback_add(sub, callback)

    def _handle_on_message(self, message):
        # paho matches every message's topic against its per-filter callbacks, which a
        # Link never adds: a trie walk and a topic decode per message, for nothing.
        if self._filtered:
            return super()._handle_on_message(message)
        on_message = self.on_message
        if on_message is None:
            return None
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
        return None

    def _easy_log(self, level, fmt, *args):
        # paho logs every packet sent and received at DEBUG: a logging call per packet,
        # a few percent of a relay's CPU, for lines that are off unless asked for.
        if level == mqtt.MQTT_LOG_DEBUG and not log.isEnabledFor(logging.DEBUG):
            return
        # After a disconnect we asked for, paho's loop makes one more pass and reports the
        # closed socket as an ERROR: every clean stop of the gateway left one in its journal.
        if (
            level == mqtt.MQTT_LOG_ERR
            and fmt.startswith("Client is not connected")
            and self._state in _ASKED_TO_DISCONNECT
        ):
            return
        super()._easy_log(level, fmt, *args)

    def _packet_queue(self, command, packet, mid, qos, info=None):
        # paho writes a byte to its wake-up socket pair for every packet queued from
        # another thread (each ack and publish of the relay): a system call per packet, and
        # a pass of the network loop to read it back. One byte is enough while packets
        # wait: the loop writes until the queue is empty, so a packet queued behind others
        # is written by the same pass as they are, and only the first of a run wakes it.
        # The append and the look at the length are one step under a lock: two threads
        # queueing at once (the relay's acks and its time beacon) could otherwise both see
        # two packets, and neither would wake the loop (up to its 1 s select timeout).
        if self._thread is None or self._sockpairW is None:
            return super()._packet_queue(command, packet, mid, qos, info)
        out = self._out_packet
        with self._queue_lock:
            out.append(
                {"command": command, "mid": mid, "qos": qos, "pos": 0,
                 "to_process": len(packet), "packet": packet, "info": info}
            )  # fmt: skip
            first = len(out) == 1
        if first:
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
                self._sockpairW.send(b"0")
        return mqtt.MQTT_ERR_SUCCESS

    def _packet_write(self):
        # paho sends each queued packet with a send() of its own; a relay's PUBACKs and
        # PUBLISHes queue up by the dozen. Join what is queued into sends of up to 64 kB.
        # QoS 0 PUBLISHes and DISCONNECT stay single: paho acts on having written those
        # (on_publish, closing the socket). Only the network thread pops the queue; other
        # threads append behind what is taken here, so the order is kept.
        out = self._out_packet
        if len(out) > 1 and out[0]["pos"] == 0:
            chunks: list[dict] = []
            run: list[dict] = []
            size = 0
            for _ in range(len(out)):
                packet = out.popleft()
                kind = packet["command"] & 0xF0
                if kind == _DISCONNECT or (kind == _PUBLISH and packet["qos"] == 0):
                    _close_run(run, chunks)
                    chunks.append(packet)
                    size = 0
                    continue
                run.append(packet)
                size += packet["to_process"]
                if size >= _COALESCE_BYTES:
                    _close_run(run, chunks)
                    size = 0
            _close_run(run, chunks)
            out.extendleft(reversed(chunks))
        return super()._packet_write()

    def _handle_pubackcomp(self, cmd):
        # A plain PUBACK is 2 bytes, the message id (MQTT 3.1.1, and 5 on success); paho
        # decodes it into a new ReasonCode and Properties each time, a tenth of a relay's
        # CPU per frame (py-spy). Anything longer goes to paho.
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _PUBACK_OK, _NO_PROPERTIES)
        return mqtt.MQTT_ERR_SUCCESS

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


def _close_run(run: list[dict], chunks: list[dict]) -> None:
    """Append `run` to `chunks` as one packet (or as itself if it is a single one)."""
    if len(run) == 1:
        chunks.append(run[0])
    elif run:
        joined = b"".join(p["packet"] for p in run)
        # Command 0 is no MQTT packet type: paho does nothing but write it.
        chunks.append(
            {"command": 0, "mid": 0, "qos": 1, "pos": 0, "to_process": len(joined),
             "packet": joined, "info": None}
        )  # fmt: skip
    run.clear()


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
        mqtt5: bool = False,
        on_connected: Callable[[], None] | None = None,
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
        # MQTT 5 where a publish needs an expiry (the gateway's retained status, which must
        # not outlive a broker crash that took its last will with it); the session is kept
        # the same way: clean_session=False is clean start off and a session that never
        # expires.
        self._mqtt5 = mqtt5
        self._clean_session = clean_session
        self._on_connected = on_connected
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if mqtt5 else clean_session,
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
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
            if self._mqtt5:
                session = Properties(PacketTypes.CONNECT)
                session.SessionExpiryInterval = 0 if self._clean_session else 0xFFFFFFFF
                self._client.connect(
                    self.endpoint.host, self.endpoint.port, self._keepalive_s,
                    clean_start=self._clean_session, properties=session,
                )  # fmt: skip
            else:
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
        expiry_s: int | None = None,
    ) -> None:
        """Queue a publish; paho sends it now or after the next reconnect.

        `expiry_s` (MQTT 5 links only): the broker discards the message, retained or
        queued, once it is that old.
        """
        properties = None
        if expiry_s is not None:
            if not self._mqtt5:
                raise ValueError("a message expiry needs an MQTT 5 link (Link(mqtt5=True))")
            properties = Properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = expiry_s
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
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

    def ack_all(self, messages: list[Message]) -> None:
        """Acknowledge a batch: its QoS 1 PUBACKs (4 bytes each) are queued as one write,
        not one queued packet each through paho's per-packet path (an ingest acks every
        message it takes)."""
        joined = b"".join(_PUBACK_HEAD + _MID.pack(m.mid) for m in messages if m.qos == 1)
        if joined:
            # Command 0 is no MQTT packet type: paho does nothing but write it (_close_run).
            self._client._packet_queue(0, joined, 0, 1)
        for message in messages:
            if message.qos > 1:
                self.ack(message)

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
        if self._on_connected is not None:
            self._on_connected()
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
