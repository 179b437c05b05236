"""gaitlink.mqtt.link against a real mosquitto: the publish bookkeeping that acks depend on."""

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Link, Message, _Client
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto


def test_link__qos0_publishes_leave_no_mid_behind(stack):
    # paho reports QoS 0 writes through on_publish too; a mid left over would later make a
    # QoS 1 publish with the same (wrapped) mid look acknowledged before it is.
    endpoint = stack.site_endpoint(stack.account("site_gateway"))
    link = Link(endpoint, "test-link-qos0", clean_session=True)
    link.start()
    try:
        for _ in range(50):
            link.publish("gaitlink/v1/time", b"{}", qos=0)
        acked = threading.Event()
        link.publish("gaitlink/v1/t/config/desired", b"{}", qos=1, on_acked=acked.set)
        assert acked.wait(5)
        time.sleep(0.2)
        assert link._early == set() and link._awaiting_qos0 == set() and link.awaiting_ack == 0
    finally:
        link.stop()


def test_link__a_stream_of_publishes_arrives_whole_in_order_and_all_are_acked(tmp_path):
    # Publishes from one thread queue up faster than the network thread writes them: they
    # leave in joined writes with one wake-up per run (link.py _Client); QoS 0 ones stay
    # single. Every QoS 1 must still be acked once and everything arrive, in order.
    # Its receiver reads thousands of PUBLISHes and acks them: joined PUBACKs.
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    got: list[bytes] = []
    done = threading.Event()
    n = 3000

    def on_message(message: Message) -> None:
        got.append(message.payload)
        receiver.ack(message)
        if len(got) == n:
            done.set()

    endpoint = Endpoint("127.0.0.1", broker.port)
    receiver = Link(endpoint, "t-rx", subscriptions=("s/#",), on_message=on_message)
    sender = Link(endpoint, "t-tx", clean_session=True, max_inflight=0)
    receiver.start()
    sender.start()
    acked = []
    try:
        time.sleep(0.2)  # the receiver's SUBSCRIBE reaches the broker first
        for i in range(n):
            qos = 0 if i % 10 == 0 else 1
            on_acked = lambda i=i: acked.append(i)  # noqa: E731
            sender.publish(f"s/{i % 7}", str(i).encode(), qos=qos, on_acked=on_acked)
        assert done.wait(30), f"{len(got)} of {n} arrived"
        deadline = time.monotonic() + 10
        while len(acked) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        # The broker may pass QoS 0 ones ahead of QoS 1 ones held by its in-flight window;
        # within QoS 1 the order is the publishing order.
        assert sorted(got) == sorted(str(i).encode() for i in range(n))
        qos1 = [int(p) for p in got if int(p) % 10]
        assert qos1 == [i for i in range(n) if i % 10]
        assert sorted(acked) == list(range(n))
        assert sender.awaiting_ack == 0 and sender._early == set()
    finally:
        sender.stop()
        receiver.stop()
        broker.kill()


class _Recorder:
    """A socket that takes everything and records each send(): the unit tests' fake."""

    def __init__(self, take: int | None = None) -> None:
        self.sends: list[bytes] = []
        self.take = take  # bytes accepted by the next send (a short write), then all

    def send(self, data) -> int:
        data = bytes(data)
        if self.take is not None:
            data, self.take = data[: self.take], None
        self.sends.append(data)
        return len(data)

    def close(self) -> None:
        self.closed = True


def _queued(client, command: int, packet: bytes, qos: int = 1, info=None) -> None:
    client._out_packet.append(
        {"command": command, "mid": 0, "qos": qos, "pos": 0, "to_process": len(packet),
         "packet": packet, "info": info}
    )  # fmt: skip


def test_link__queued_packets_are_joined_into_one_write_qos0_and_disconnect_alone():
    client = _Client(CallbackAPIVersion.VERSION2, client_id="unit")
    published = []
    client.on_publish = lambda c, u, mid, rc, props: published.append(mid)
    client._sock = sock = _Recorder()
    puback, publish1 = bytes([0x40, 2, 0, 1]), bytes([0x32, 3, 0, 1, 0x61])
    qos0 = bytes([0x30, 2, 0x61, 0x62])
    for packet in (puback, publish1, puback):
        _queued(client, packet[0], packet)
    info = mqtt.MQTTMessageInfo(7)
    _queued(client, qos0[0], qos0, qos=0, info=info)
    _queued(client, puback[0], puback)
    _queued(client, puback[0], puback)
    disconnect = bytes([0xE0, 0])
    _queued(client, disconnect[0], disconnect)
    assert client._packet_write() == mqtt.MQTT_ERR_SUCCESS
    assert sock.sends == [puback + publish1 + puback, qos0, puback + puback, disconnect]
    assert sock.closed  # paho closed the socket after the DISCONNECT, as it does alone
    assert published == [0] and info.is_published()  # paho's QoS 0 bookkeeping still ran
    assert not client._out_packet


def test_link__a_short_write_of_a_joined_run_is_finished_by_the_next_write():
    client = _Client(CallbackAPIVersion.VERSION2, client_id="unit")
    client._sock = sock = _Recorder(take=5)
    packets = [bytes([0x40, 2, 0, i]) for i in range(1, 5)]
    for packet in packets:
        _queued(client, packet[0], packet)
    client._packet_write()
    client._packet_write()
    assert b"".join(sock.sends) == b"".join(packets) and sock.sends[0] == b"".join(packets)[:5]


def test_link__an_expiry_needs_an_mqtt5_link():
    link = Link(Endpoint("127.0.0.1", 1), "t-expiry")  # never started: the check comes first
    try:
        link.publish("t", b"x", expiry_s=5)
    except ValueError as exc:
        assert "MQTT 5" in str(exc)
    else:
        raise AssertionError("an expiry on an MQTT 3.1.1 link was accepted")


def test_link__a_clean_stop_logs_no_error(tmp_path, caplog):
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    try:
        for i in range(3):  # paho's last loop pass races the stop: try a few times
            link = Link(Endpoint("127.0.0.1", broker.port), f"t-stop-{i}", clean_session=True)
            link.start()
            with caplog.at_level(logging.WARNING, logger="gaitlink.mqtt"):
                link.stop()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []
    finally:
        broker.kill()


def test_link__ack_all__acks_a_batch_in_one_write_and_the_broker_forgets_it(tmp_path):
    # A persistent session: what the receiver acked is gone at its next connection, what it
    # did not ack comes again (MQTT 3.1.1 §4.4), so the broker itself says which acks it took.
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    endpoint = Endpoint("127.0.0.1", broker.port)
    got: list[Message] = []
    sender = Link(endpoint, "t-ack-tx", clean_session=True)

    def receive() -> Link:
        link = Link(endpoint, "t-ack-rx", subscriptions=("a/#",), on_message=got.append)
        link.start()
        return link

    try:
        receiver = receive()
        receiver.stop()  # the session and its subscription stay in the broker
        sender.start()
        acked = threading.Event()
        for i in range(30):
            last = i == 29
            sender.publish(f"a/{i}", b"%d" % i, qos=1, on_acked=acked.set if last else None)
        assert acked.wait(10)
        receiver = receive()
        deadline = time.monotonic() + 10
        while len(got) < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m.payload for m in got] == [b"%d" % i for i in range(30)]
        spy = receiver._client._sock._sock = _SendSpy(receiver._client._sock._sock)
        sends = spy.sends
        receiver.ack_all(got[:20])
        deadline = time.monotonic() + 5
        while not sends and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the broker reads the PUBACKs before the disconnect
        receiver.stop()
        # One write holds all twenty (the DISCONNECT of stop() follows it).
        assert sends[0] == b"".join(b"\x40\x02" + m.mid.to_bytes(2, "big") for m in got[:20])
        got.clear()
        receiver = receive()
        deadline = time.monotonic() + 10
        while len(got) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # nothing more comes
        assert sorted(m.payload for m in got) == [b"%d" % i for i in range(20, 30)]
        receiver.stop()
    finally:
        sender.stop()
        broker.kill()


class _SendSpy:
    """Records each send() of the socket it wraps (under link.py's _BufferedSocket)."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.sends: list[bytes] = []

    def send(self, data) -> int:
        self.sends.append(bytes(data))
        return self.sock.send(data)

    def __getattr__(self, name: str):
        return getattr(self.sock, name)
