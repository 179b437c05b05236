# Minimal MQTT 3.1.1 protocol over asyncio streams (after micropython-lib's umqtt.simple):
# one packet per method, no retry, no reconnect. A dead or refused link raises OSError;
# uplink.py owns the policy.
import asyncio
import struct

from micropython import const

CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x82)
SUBACK = const(0x90)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)

_ECONNRESET = const(104)
_ETIMEDOUT = const(110)
_ECONNREFUSED = const(111)
_RX_MAX = const(128)


class MQTTRefused(OSError):
    # CONNACK return code != 0 (bad credentials, not authorised, ...)
    pass


def _put_remaining(buf, pos, n):
    while True:
        b = n & 0x7F
        n >>= 7
        buf[pos] = b | 0x80 if n else b
        pos += 1
        if not n:
            return pos


def _put_str(buf, pos, s):
    n = len(s)
    struct.pack_into(">H", buf, pos, n)
    buf[pos + 2 : pos + 2 + n] = s
    return pos + 2 + n


class MQTTProtocol:
    def __init__(self, client_id, user=None, password=None, keepalive_s=30, timeout_ms=5000):
        self.client_id = client_id.encode()
        self.user = user.encode() if user else None
        self.password = password.encode() if password else b""
        self.keepalive_s = keepalive_s
        self.timeout_ms = timeout_ms
        self._r = None
        self._w = None
        self._busy = False  # a writer is in _send
        self._hdr = bytearray(8 + 64)  # fixed header + topic + packet id of a PUBLISH
        self._hdr_mv = memoryview(self._hdr)
        self._ack = bytearray(4)
        self._connect_pkt = None
        # receive buffer: PUBACKs (the common packet) and small PUBLISHes (time beacons)
        # are read into it without allocating; a bigger packet gets its own buffer
        self._rx = bytearray(_RX_MAX)
        self._rx_mv = memoryview(self._rx)
        self._rx_head = self._rx_mv[:1]
        self._rx_body2 = self._rx_mv[:2]

    async def connect(self, host, port, will=None, clean=True):
        # will: (topic, message, qos, retain). Returns the CONNACK session-present flag.
        self.close()
        try:
            self._r, self._w = await asyncio.wait_for_ms(
                asyncio.open_connection(host, port), self.timeout_ms
            )
        except asyncio.TimeoutError:
            raise OSError(_ETIMEDOUT) from None
        if self._connect_pkt is None:
            # built once: the same bytes at every reconnect, no new block each time
            self._connect_pkt = self._connect_packet(will, clean)
        await self._send(self._connect_pkt)
        try:
            resp = await asyncio.wait_for_ms(self._read(4), self.timeout_ms)
        except asyncio.TimeoutError:
            raise OSError(_ETIMEDOUT) from None
        if resp[0] != CONNACK or resp[1] != 2:
            raise OSError(_ECONNREFUSED)
        if resp[3]:
            raise MQTTRefused(resp[3])
        return bool(resp[2] & 1)

    def _connect_packet(self, will, clean):
        flags = 0x02 if clean else 0
        n = 10 + 2 + len(self.client_id)
        if will:
            wt, wm = will[0].encode(), will[1].encode()
            flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
            n += 4 + len(wt) + len(wm)
        if self.user:
            flags |= 0xC0
            n += 4 + len(self.user) + len(self.password)
        pkt = bytearray(n + 5)
        pkt[0] = CONNECT
        p = _put_remaining(pkt, 1, n)
        p = _put_str(pkt, p, b"MQTT")
        pkt[p] = 4  # protocol level 3.1.1
        pkt[p + 1] = flags
        struct.pack_into(">H", pkt, p + 2, self.keepalive_s)
        p = _put_str(pkt, p + 4, self.client_id)
        if will:
            p = _put_str(pkt, p, wt)
            p = _put_str(pkt, p, wm)
        if self.user:
            p = _put_str(pkt, p, self.user)
            p = _put_str(pkt, p, self.password)
        return bytes(memoryview(pkt)[:p])

    def close(self):
        w = self._w
        self._r = self._w = None
        if w is not None:
            try:
                w.close()
            except OSError:
                pass

    async def _send(self, *parts):
        w = self._w
        if w is None:
            raise OSError(_ECONNRESET)
        # one writer at a time: interleaved drain() calls on one stream would corrupt it. A
        # flag, not asyncio.Lock: the lock's module would hold ~0.7 kB of heap for good
        while self._busy:
            await asyncio.sleep_ms(1)
        if self._w is not w:
            raise OSError(_ECONNRESET)  # closed while this writer waited
        self._busy = True
        try:
            for part in parts:
                w.write(part)
            await asyncio.wait_for_ms(w.drain(), self.timeout_ms)
        except asyncio.TimeoutError:
            raise OSError(_ETIMEDOUT) from None
        finally:
            self._busy = False

    async def _read(self, n):
        r = self._r
        if r is None:
            raise OSError(_ECONNRESET)
        try:
            return await r.readexactly(n)
        except EOFError:
            raise OSError(_ECONNRESET) from None

    async def publish(self, topic, payload, qos=0, retain=False, pid=0, dup=False):
        # topic: bytes; payload: bytes-like (a memoryview of a frame is not copied)
        h = self._hdr
        h[0] = PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
        n = 2 + len(topic) + len(payload) + (2 if qos else 0)
        p = _put_remaining(h, 1, n)
        p = _put_str(h, p, topic)
        if qos:
            struct.pack_into(">H", h, p, pid)
            p += 2
        await self._send(self._hdr_mv[:p], payload)

    async def subscribe(self, topic, qos, pid):
        # topic: bytes
        t = topic
        pkt = bytearray(9 + len(t))
        pkt[0] = SUBSCRIBE
        p = _put_remaining(pkt, 1, 5 + len(t))
        struct.pack_into(">H", pkt, p, pid)
        p = _put_str(pkt, p + 2, t)
        pkt[p] = qos
        await self._send(memoryview(pkt)[: p + 1])

    async def puback(self, pid):
        a = self._ack
        a[0] = PUBACK
        a[1] = 2
        struct.pack_into(">H", a, 2, pid)
        await self._send(a)

    async def ping(self):
        await self._send(b"\xc0\x00")

    async def disconnect(self):
        try:
            await self._send(b"\xe0\x00")
        finally:
            self.close()

    async def _read_into(self, mv):
        # fills mv (a memoryview) from the stream; readexactly() would allocate per call
        r = self._r
        if r is None:
            raise OSError(_ECONNRESET)
        got = 0
        n = len(mv)
        while got < n:
            k = await r.readinto(mv[got:] if got else mv)
            if not k:
                raise OSError(_ECONNRESET)
            got += k

    async def read_packet(self):
        # next packet from the broker: (type, packet_id, topic, payload); topic and payload
        # are None except for PUBLISH (then bytes of their own)
        head = self._rx_head
        await self._read_into(head)
        first = self._rx[0]
        ptype = first & 0xF0
        n = 0
        shift = 0
        while True:
            await self._read_into(head)
            d = self._rx[0]
            n |= (d & 0x7F) << shift
            shift += 7
            if not d & 0x80:
                break
        if n == 2:
            body = self._rx_body2
        elif n <= _RX_MAX:
            body = self._rx_mv[:n]
        else:
            body = memoryview(bytearray(n))
        if n:
            await self._read_into(body)
        if ptype == PUBLISH:
            tl = (body[0] << 8) | body[1]
            topic = bytes(body[2 : 2 + tl])
            p = 2 + tl
            pid = 0
            if first & 0x06:
                pid = (body[p] << 8) | body[p + 1]
                p += 2
            return ptype, pid, topic, bytes(body[p:])
        pid = (body[0] << 8) | body[1] if n >= 2 else 0
        return ptype, pid, None, None
