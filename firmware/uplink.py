# The resilient uplink (after peterhinch/micropython-mqtt): owns the MQTT link, reconnects
# with exponential backoff, publishes ring frames with QoS 1 and releases a frame only on
# its PUBACK. After a reconnect every unacked frame is sent again with RESENT (and MQTT
# DUP) set. JSON messages (status, env, config reports) go through a small bounded outbox;
# status and env are written at publish time into one held buffer (fill()).
import asyncio
import json
import sys
import time

import frame
from micropython import const
from mqtt import PUBACK, PUBLISH

_ETIMEDOUT = const(110)
_OUTBOX_MAX = const(4)
OUT_BYTES = const(704)  # a status with a 32-character id and 10-digit counters fits
TIME_TOPIC = b"gaitlink/v1/time"


def fill(buf, template, values):
    # JSON into the held bytearray buf, without allocating: each zero byte of template takes
    # the next of values, bytes as they are or an int in decimal. A byte at a time, slower
    # than slices (a status is ~500 bytes, at most once a second); returns the length. A
    # message longer than buf raises IndexError (buf never grows).
    n = 0
    k = 0
    for c in template:
        if c:
            buf[n] = c
            n += 1
            continue
        v = values[k]
        k += 1
        if isinstance(v, int):
            if v < 0:
                buf[n] = 45  # -
                n += 1
                v = -v
            p = 1
            while p * 10 <= v:
                p *= 10
            while p:
                d = v // p
                buf[n] = 48 + d
                n += 1
                v -= d * p
                p //= 10
        else:
            for c in v:
                buf[n] = c
                n += 1
    return n


class Uplink:
    def __init__(self, cfg, ring, clock, boot_id, status_fn):
        # set up by compose.py, loaded for this once: here, this code would hold ~0.6 kB of
        # heap for the whole run (the attributes are listed there)
        loaded = "compose" in sys.modules
        import compose

        compose.uplink(self, cfg, ring, clock, boot_id, status_fn)
        if not loaded:
            del sys.modules["compose"]

    # -- called by the app --------------------------------------------------------------
    def start(self):
        self._task = asyncio.create_task(self._run())

    def wake(self):
        self._wake.set()

    def send_json(self, topic, payload, retain=False, arg=None):
        # payload: a message (str or bytes), or a writer payload(arg) -> (template, values)
        # that fill() puts in the held buffer when the message is published (no heap block per
        # report, and the newest state goes out). A newer message replaces an unsent one on
        # the same topic if it is retained or written (an env reading replaced before it
        # was sent counts as dropped); beyond _OUTBOX_MAX the oldest is dropped and counted.
        if isinstance(payload, str):
            payload = payload.encode()
        written = not isinstance(payload, bytes)
        box = self._outbox
        if retain or written:
            for m in box:
                if m[0] == topic:
                    if not retain:
                        self.outbox_dropped += 1
                    m[1] = payload
                    m[3] = arg
                    return
        if len(box) >= _OUTBOX_MAX:
            box.pop(0)
            self.outbox_dropped += 1
        try:
            box.append([topic, payload, retain, arg])
        except MemoryError:
            self.outbox_dropped += 1  # not even a small block free: dropped, counted
            return
        self._wake.set()

    def send_status(self, state):
        # state: b"online", b"offline", ... (retained)
        self.send_json(self.topic_status, self.status_fn, True, state)

    async def flush(self, timeout_ms):
        # True once every frame in the ring is acknowledged
        t = time.ticks_ms()
        while len(self.ring) and time.ticks_diff(time.ticks_ms(), t) < timeout_ms:
            await asyncio.sleep_ms(20)
        return not len(self.ring)

    async def stop(self, final_state, timeout_ms):
        # publishes the status with final_state (retained, QoS 1) if connected, disconnects
        # cleanly and cancels every task this uplink started
        self._final = final_state
        self._stopping = True
        self._wake.set()
        if not self.connected:
            self._task.cancel()  # in backoff or connecting: nobody to say goodbye to
        t = time.ticks_ms()
        while not self._task.done() and time.ticks_diff(time.ticks_ms(), t) < timeout_ms:
            await asyncio.sleep_ms(20)
        if not self._task.done():
            self._task.cancel()
        self._teardown()
        # a finished coroutine keeps its locals, among them a view of the ring's last frame,
        # which would keep the ring's RAM when the run is over and the ring released
        self._task = None

    # -- the link -------------------------------------------------------------------------
    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _fail(self, exc):
        if self._error is None:
            self._error = exc
        self._wake.set()

    def _teardown(self):
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        self.proto.close()
        self.connected = False

    async def _run(self):
        delay = self.cfg["reconnect_min_ms"]
        while not self._stopping:
            try:
                await self.proto.connect(
                    self.cfg["broker_host"], self.cfg["broker_port"], will=self._will
                )
                delay = self.cfg["reconnect_min_ms"]
                await self._session()
            except OSError as e:
                print("uplink: link lost:", repr(e))
            except Exception as e:  # noqa: BLE001 - a bug must not end the uplink for good
                sys.print_exception(e, sys.stderr)
            self._teardown()
            if self._stopping:
                break
            await asyncio.sleep_ms(delay)
            delay = min(delay * 2, self.cfg["reconnect_max_ms"])

    async def _session(self):
        self.connected = True
        self.connections += 1
        self._error = None
        self._json_pids = []
        self._last_rx = time.ticks_ms()
        self.ring.rewind()
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._pinger())]
        await self.proto.subscribe(TIME_TOPIC, 0, self._next_pid())
        for t in self.commands:
            await self.proto.subscribe(t, 1, self._next_pid())
        self.send_status(b"online")
        ring = self.ring
        max_inflight = self.cfg["max_inflight"]
        while True:
            if self._error is not None:
                raise self._error
            if self._outbox:
                m = self._outbox.pop(0)
                payload = self._written(m[1], m[3])
                if payload is not None:
                    await self._publish_json(m[0], payload, m[2])
                continue
            idx = ring.next_unsent() if ring.inflight < max_inflight else -1
            if idx >= 0:
                f = ring.frame(idx)
                dup = ring.was_sent(idx)
                if dup:
                    frame.set_flag(f, frame.RESENT)
                    self.resent += 1
                pid = self._next_pid()
                ring.mark_sent(idx, pid)
                await self.proto.publish(self.topic_imu, f, 1, False, pid, dup)
                continue
            if self._stopping:
                await self._goodbye()
                return
            await self._wake.wait()
            self._wake.clear()

    def _written(self, payload, arg):
        # a writer's message in the held buffer (a view of it), or the message itself.
        # Nothing else writes the buffer until this publish has handed it to the socket.
        if isinstance(payload, bytes):
            return payload
        try:
            template, values = payload(arg)
            n = fill(self._out, template, values)
        except (IndexError, MemoryError):
            self.reports_skipped += 1  # longer than the buffer, or no block for a small str
            return None
        return self._out_mv[:n]

    async def _publish_json(self, topic, payload, retain):
        pid = self._next_pid()
        self._json_pids.append(pid)
        await self.proto.publish(topic, payload, 1, retain, pid)

    async def _goodbye(self):
        final = self._written(self.status_fn, self._final) if self._final else None
        if final is not None:
            await self._publish_json(self.topic_status, final, True)
            t = time.ticks_ms()
            while self._json_pids and time.ticks_diff(time.ticks_ms(), t) < 5000:
                if self._error is not None:
                    raise self._error
                await asyncio.sleep_ms(10)
        await self.proto.disconnect()

    async def _reader(self):
        try:
            while True:
                ptype, pid, topic, msg = await self.proto.read_packet()
                self._last_rx = time.ticks_ms()
                if ptype == PUBACK:
                    if not self.ring.ack(pid) and pid in self._json_pids:
                        self._json_pids.remove(pid)
                    self._wake.set()
                elif ptype == PUBLISH:
                    if pid:
                        await self.proto.puback(pid)
                    self._on_message(topic, msg)
        except (OSError, MemoryError) as e:
            # no block for a received message: this link ends (and is made again), rather
            # than a reader that died without anyone noticing
            self._fail(e)

    async def _pinger(self):
        ka = self.cfg["keepalive_s"] * 1000
        try:
            while True:
                await asyncio.sleep_ms(ka // 2)
                if time.ticks_diff(time.ticks_ms(), self._last_rx) > ka:
                    raise OSError(_ETIMEDOUT)  # broker silent for a keepalive: link is dead
                await self.proto.ping()
        except (OSError, MemoryError) as e:
            self._fail(e)

    def _on_message(self, topic, msg):
        # a bad message is counted, never fatal
        try:
            if topic == TIME_TOPIC:
                self.clock.set_us(int(json.loads(msg)["t_us"]))
            elif topic in self.commands and self.on_command:
                self.on_command(topic, msg)
        except (ValueError, KeyError, TypeError):
            self.bad_messages += 1
