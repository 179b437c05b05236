"""A lean MQTT 3.1.1 load generator and counter for the gateway benchmark.

Raw sockets instead of paho, so the load side costs little CPU and the figures measure
the brokers and the gateway, not the test harness. Each frame's payload starts with the
CLOCK_MONOTONIC time it was sent (ns, shared by every process on the machine), which the
counter turns into an end-to-end latency. The counter also takes a gateway's frame batches
(docs/protocol.md §2.5) and counts, and times, every frame inside them.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from gaitlink.cloud.protocol.batch import decode_batch

_U16 = struct.Struct("!H")
_STAMP = struct.Struct("<q")


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


def _connect(port: int, client_id: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = _text("MQTT") + bytes([4, 0x02]) + _U16.pack(60) + _text(client_id)
    sock.sendall(b"\x10" + _length(len(body)) + body)
    reader = PacketReader(sock)
    kind, _ = reader.next()
    if kind != 0x20:
        raise ConnectionError(f"no CONNACK from 127.0.0.1:{port}")
    sock.settimeout(None)
    return sock


class PacketReader:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def _fill(self) -> bool:
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def packets(self):
        """Yield (type byte, body) for every whole packet, reading as needed; ends at EOF."""
        buf = self._buf
        pos = 0
        while True:
            # Parse what is whole in the buffer, then read more.
            while True:
                if len(buf) - pos < 2:
                    break
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
                yield buf[pos] & 0xF0, bytes(buf[i : i + n])
                pos = i + n
            del buf[:pos]
            pos = 0
            if not self._fill():
                return

    def next(self) -> tuple[int, bytes]:
        return next(self.packets())


def frame_payload(size: int) -> bytearray:
    return bytearray(max(size, _STAMP.size))


@dataclass
class PublishResult:
    sent: int = 0
    acked: int = 0
    seconds: float = 0.0


def publish(
    port: int,
    devices: int,
    count: int,
    *,
    rate: float | None = None,
    frame_bytes: int = 644,
    window: int = 1000,
    client_id: str = "bench-load",
) -> PublishResult:
    """QoS 1 frames round-robin over `devices` topics: `count` of them, at `rate` per s
    (None: as fast as the broker's PUBACKs allow, `window` unacked at most)."""
    sock = _connect(port, client_id)
    result = PublishResult()
    acked = threading.Semaphore(0)
    done = threading.Event()

    def read_acks() -> None:
        for kind, _ in PacketReader(sock).packets():
            if kind == 0x40:
                result.acked += 1
                acked.release()
            if result.acked >= count:
                break
        done.set()

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    topics = [_text(f"gaitlink/v1/bench-{d:03d}/imu") for d in range(devices)]
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
        packets = []
        for _ in range(batch):
            mid = mid % 65535 + 1
            _STAMP.pack_into(payload, 0, time.monotonic_ns())
            body = topics[result.sent % devices] + _U16.pack(mid) + payload
            packets.append(b"\x32" + _length(len(body)) + body)
            result.sent += 1
        sock.sendall(b"".join(packets))
        if rate is None:
            credit -= batch
            # Wait for at least one PUBACK before refilling the window.
            acked.acquire()
            credit += 1
            while acked.acquire(blocking=False):
                credit += 1
    done.wait(60)
    result.seconds = time.monotonic() - start
    sock.close()
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
    """Subscribes (QoS 0) to every device's imu and imu/batch topics and counts the frames
    that arrive."""

    def __init__(self, port: int, client_id: str, keep_latencies: bool = True) -> None:
        self._sock = _connect(port, client_id)
        filters = ("gaitlink/v1/+/imu", "gaitlink/v1/+/imu/batch")
        body = _U16.pack(1) + b"".join(_text(f) + bytes([0]) for f in filters)
        self._sock.sendall(b"\x82" + _length(len(body)) + body)
        self.arrivals = Arrivals()
        self._keep = keep_latencies
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._subscribed.wait(10):
            raise ConnectionError(f"no SUBACK from 127.0.0.1:{port}")

    def _run(self) -> None:
        arrivals = self.arrivals
        for kind, body in PacketReader(self._sock).packets():
            if kind == 0x90:
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
