"""A lean MQTT 3.1.1 load generator and counter for the gateway benchmark.

Raw sockets instead of paho, so the load side costs little CPU and the figures measure
the brokers and the gateway, not the test harness. Each frame's payload starts with the
CLOCK_MONOTONIC time it was sent (ns, shared by every process on the machine), which the
counter turns into an end-to-end latency. The counter also takes a gateway's frame batches
(docs/protocol.md §2.5) and counts, and times, every frame inside them.

Clients log in as a deployment's do: a `login` is anything with `username` and `password`
(tools/stack/accounts.Account, whose password is read from its private file only when a
client connects), and `tls` an ssl.SSLContext that verifies the broker. The load publishes
each device's frames over a connection of that device's own account, since the site ACL
lets an account write only its own topics.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

from gaitlink.cloud.protocol.batch import decode_batch

_U16 = struct.Struct("!H")
_STAMP = struct.Struct("<q")
_CLEAN_SESSION, _PASSWORD, _USERNAME = 0x02, 0x40, 0x80  # CONNECT flags (MQTT 3.1.1 §3.1.2)
_REFUSED = {1: "protocol version", 2: "client id", 3: "server unavailable",
            4: "bad username or password", 5: "not authorized"}  # fmt: skip


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode()
    return _U16.pack(len(raw)) + raw


def _connect(
    port: int, client_id: str, login=None, tls: ssl.SSLContext | None = None
) -> socket.socket:
    """A connected, accepted MQTT session on 127.0.0.1:`port` (clean session)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
        flags, login_fields = _CLEAN_SESSION, b""
        if login is not None:
            flags |= _USERNAME | _PASSWORD
            login_fields = _text(login.username) + _text(login.password)
        body = _text("MQTT") + bytes([4, flags]) + _U16.pack(60) + _text(client_id) + login_fields
        sock.sendall(b"\x10" + _length(len(body)) + body)
        kind, ack = PacketReader(sock).next()
    except BaseException:
        sock.close()
        raise
    if kind != 0x20 or len(ack) != 2 or ack[1] != 0:
        sock.close()
        why = _REFUSED.get(ack[1], f"code {ack[1]}") if kind == 0x20 and len(ack) == 2 else ""
        who = login.username if login is not None else "anonymous"
        raise ConnectionError(f"127.0.0.1:{port} refused {who} ({why or 'no CONNACK'})")
    sock.settimeout(None)
    return sock


class PacketReader:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def fill(self) -> bool:
        """Read what the socket has (False at EOF), and what TLS has already decrypted,
        which select() cannot see."""
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            return False
        self._buf += chunk
        pending = getattr(self._sock, "pending", None)
        while pending is not None and (n := pending()):
            self._buf += self._sock.recv(n)
        return True

    def whole(self) -> list[tuple[int, bytes]]:
        """(type byte, body) of every whole packet in the buffer, taken out of it."""
        buf, pos, out = self._buf, 0, []
        while len(buf) - pos >= 2:
            n, mult, i = 0, 1, pos + 1
            while i < len(buf):
                byte = buf[i]
                n += (byte & 0x7F) * mult
                mult *= 128
                i += 1
                if not byte & 0x80:
                    break
            else:
                break
            if len(buf) - i < n:
                break
            out.append((buf[pos] & 0xF0, bytes(buf[i : i + n])))
            pos = i + n
        del buf[:pos]
        return out

    def packets(self):
        """Yield (type byte, body) for every whole packet, reading as needed; ends at EOF."""
        while True:
            yield from self.whole()
            if not self.fill():
                return

    def next(self) -> tuple[int, bytes]:
        return next(self.packets(), (0, b""))


def frame_payload(size: int) -> bytearray:
    return bytearray(max(size, _STAMP.size))


@dataclass
class PublishResult:
    sent: int = 0
    acked: int = 0
    seconds: float = 0.0


def publish(
    port: int,
    logins: list,
    count: int,
    *,
    rate: float | None = None,
    frame_bytes: int = 644,
    window: int = 1000,
    client_id: str = "bench-load",
    tls: ssl.SSLContext | None = None,
) -> PublishResult:
    """QoS 1 frames round-robin over the devices, one connection per device logged in with
    its account (`logins`), each to its own topic `gaitlink/v1/<username>/imu`: `count` of
    them, at `rate` per s (None: as fast as the broker's PUBACKs allow, `window` unacked at
    most over all devices)."""
    socks = []
    try:
        for d, login in enumerate(logins):
            socks.append(_connect(port, f"{client_id}-{d:03d}", login, tls))
        return _publish(socks, [lg.username for lg in logins], count, rate, frame_bytes, window)
    finally:
        for sock in socks:
            sock.close()


def _publish(socks, devices, count, rate, frame_bytes, window) -> PublishResult:
    result = PublishResult()
    acked = threading.Semaphore(0)
    done = threading.Event()

    def read_acks() -> None:
        # One thread for every device's connection: it only counts PUBACKs.
        with selectors.DefaultSelector() as selector:
            for sock in socks:
                selector.register(sock, selectors.EVENT_READ, PacketReader(sock))
            while result.acked < count and selector.get_map():
                try:
                    ready = selector.select(1.0)
                except (OSError, ValueError):  # the publisher gave up and closed them
                    break
                for key, _ in ready:
                    reader = key.data
                    try:
                        alive = reader.fill()
                    except OSError:  # closed under us: the publisher has given up
                        alive = False
                    if not alive:
                        selector.unregister(key.fileobj)
                    for kind, _ in reader.whole():
                        if kind == 0x40:
                            result.acked += 1
                            acked.release()
        done.set()

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    topics = [_text(f"gaitlink/v1/{device}/imu") for device in devices]
    n = len(devices)
    payload = frame_payload(frame_bytes)
    start = time.monotonic()
    credit = window
    mid = 0
    while result.sent < count:
        if rate is None:
            batch = min(credit, count - result.sent, 200)
        else:
            due = int((time.monotonic() - start) * rate) + 1
            batch = min(due - result.sent, count - result.sent)
            if batch <= 0:
                time.sleep(min(0.005, 1 / rate))
                continue
        packets: list[list[bytes]] = [[] for _ in range(n)]
        for _ in range(batch):
            # One id sequence for all connections: unique in each while < 65535 in flight.
            mid = mid % 65535 + 1
            device = result.sent % n
            _STAMP.pack_into(payload, 0, time.monotonic_ns())
            body = topics[device] + _U16.pack(mid) + payload
            packets[device].append(b"\x32" + _length(len(body)) + body)
            result.sent += 1
        for sock, queued in zip(socks, packets, strict=True):
            if queued:
                sock.sendall(b"".join(queued))
        if rate is None:
            credit -= batch
            # Wait for at least one PUBACK before refilling the window.
            acked.acquire()
            credit += 1
            while acked.acquire(blocking=False):
                credit += 1
    done.wait(60)
    result.seconds = time.monotonic() - start
    return result


@dataclass
class Arrivals:
    count: int = 0
    first_s: float = 0.0
    last_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    marks: list[float] = field(default_factory=list)  # arrival time of every 1000th frame
    batches: int = 0  # batch messages; their frames count in `count`


class Counter:
    """Subscribes (QoS 0) to `filters`, by default every device's imu and imu/batch topics,
    and counts the frames that arrive."""

    FILTERS = ("gaitlink/v1/+/imu", "gaitlink/v1/+/imu/batch")

    def __init__(
        self,
        port: int,
        client_id: str,
        keep_latencies: bool = True,
        *,
        login=None,
        tls: ssl.SSLContext | None = None,
        filters: tuple[str, ...] = FILTERS,
    ) -> None:
        self._sock = _connect(port, client_id, login, tls)
        body = _U16.pack(1) + b"".join(_text(f) + bytes([0]) for f in filters)
        self._sock.sendall(b"\x82" + _length(len(body)) + body)
        self.arrivals = Arrivals()
        self._keep = keep_latencies
        self._granted = b""
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._subscribed.wait(10):
            self.close()
            raise ConnectionError(f"no SUBACK from 127.0.0.1:{port}")
        refused = [f for f, code in zip(filters, self._granted, strict=False) if code == 0x80]
        if refused or len(self._granted) != len(filters):
            self.close()
            who = login.username if login is not None else "anonymous"
            raise ConnectionError(f"127.0.0.1:{port} refused {who} a subscription: {refused}")

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # the socket closed under us by close()
            self._count(PacketReader(self._sock).packets())

    def _count(self, packets) -> None:
        arrivals = self.arrivals
        for kind, body in packets:
            if kind == 0x90:
                self._granted = body[2:]  # one return code per filter (0x80: refused)
                self._subscribed.set()
                continue
            if kind != 0x30:
                continue
            now_ns = time.monotonic_ns()
            topic_len = _U16.unpack_from(body, 0)[0]
            payload = body[2 + topic_len :]  # QoS 0: no packet id
            if body[2 : 2 + topic_len].endswith(b"/batch"):
                frames = decode_batch(payload)
                arrivals.batches += 1
            else:
                frames = [payload]
            now = now_ns / 1e9
            if arrivals.count == 0:
                arrivals.first_s = now
            arrivals.last_s = now
            for frame in frames:
                arrivals.count += 1
                if arrivals.count % 1000 == 0:
                    arrivals.marks.append(now)
                if self._keep:
                    arrivals.latencies_ms.append((now_ns - _STAMP.unpack_from(frame)[0]) / 1e6)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.arrivals.count < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)
