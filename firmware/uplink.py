# The resilient uplink (after peterhinch/micropython-mqtt): owns the MQTT link, reconnects
# with exponential backoff, publishes ring frames with QoS 1 and releases a frame only on
# its PUBACK. After a reconnect every unacked frame is sent again with RESENT (and MQTT
# DUP) set. JSON messages (status, env) go through a small bounded outbox.
import asyncio
import json
import sys
import time

import frame
from micropython import const
from mqtt import PUBACK, PUBLISH, MQTTProtocol

_ETIMEDOUT = const(110)
_OUTBOX_MAX = const(4)
TIME_TOPIC = b"gaitlink/v1/time"


class Uplink:
    def __init__(self, cfg, ring, clock, boot_id, status_fn):
        dev = cfg["device_id"]
        base = "gaitlink/v1/" + dev + "/"
        self.topic_imu = (base + "imu").encode()
        self.topic_env = (base + "env").encode()
        self.topic_status = (base + "status").encode()
        self.topic_reported = (base + "config/reported").encode()
        # cloud -> device: handed to on_command(topic, payload) (devconfig, OTA)
        self.commands = ((base + "config/desired").encode(), (base + "ota").encode())
        self.on_command = None
        self.cfg = cfg
        self.ring = ring
        self.clock = clock
        self.status_fn = status_fn  # state -> status JSON string
        self.proto = MQTTProtocol(dev, cfg["mqtt_user"], cfg["mqtt_password"], cfg["keepalive_s"])
        will = json.dumps({"device_id": dev, "state": "offline", "boot_id": boot_id})
        self._will = (self.topic_status.decode(), will, 1, True)
        self._pid = 0
        self._wake = asyncio.Event()
        self._outbox = []  # [topic, payload, retain]
        self._json_pids = []  # unacked JSON publishes of this session
        self._error = None
        self._tasks = []
        self._task = None
        self._stopping = False
        self._final = None
        self._last_rx = 0
        self.connected = False
        self.connections = 0
        self.resent = 0
        self.outbox_dropped = 0
        self.bad_messages = 0

    # -- called by the app --------------------------------------------------------------
    def start(self):
        self._task = asyncio.create_task(self._run())

    def wake(self):
        self._wake.set()

    def send_json(self, topic, payload, retain=False):
        # payload: str; a newer retained message replaces an unsent one on the same topic
        payload = payload.encode()
        box = self._outbox
        if retain:
            for m in box:
                if m[0] == topic:
                    m[1] = payload
                    return
        if len(box) >= _OUTBOX_MAX:
            box.pop(0)
            self.outbox_dropped += 1
        box.append([topic, payload, retain])
        self._wake.set()

    async def flush(self, timeout_ms):
        # True once every frame in the ring is acknowledged
        t = time.ticks_ms()
        while len(self.ring) and time.ticks_diff(time.ticks_ms(), t) < timeout_ms:
            await asyncio.sleep_ms(20)
        return not len(self.ring)

    async def stop(self, final_status, timeout_ms):
        # publishes final_status (retained, QoS 1) if connected, disconnects cleanly and
        # cancels every task this uplink started
        self._final = final_status.encode()
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
        self.send_json(self.topic_status, self.status_fn("online"), True)
        ring = self.ring
        max_inflight = self.cfg["max_inflight"]
        while True:
            if self._error is not None:
                raise self._error
            if self._outbox:
                m = self._outbox.pop(0)
                await self._publish_json(m[0], m[1], m[2])
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

    async def _publish_json(self, topic, payload, retain):
        pid = self._next_pid()
        self._json_pids.append(pid)
        await self.proto.publish(topic, payload, 1, retain, pid)

    async def _goodbye(self):
        if self._final is not None:
            await self._publish_json(self.topic_status, self._final, True)
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
        except OSError as e:
            self._fail(e)

    async def _pinger(self):
        ka = self.cfg["keepalive_s"] * 1000
        try:
            while True:
                await asyncio.sleep_ms(ka // 2)
                if time.ticks_diff(time.ticks_ms(), self._last_rx) > ka:
                    raise OSError(_ETIMEDOUT)  # broker silent for a keepalive: link is dead
                await self.proto.ping()
        except OSError as e:
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
