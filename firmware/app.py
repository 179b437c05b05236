# The app: board, drivers, sampler and uplink (composed by compose.py); the supervisor loop
# reports status, keeps the heap tidy and, for bounded runs, flushes and prints one JSON
# summary line.
import asyncio
import gc
import json
import sys
import time
from binascii import unhexlify

import board
from clock import iso
from drivers.bme280 import BME280, MEASURE_MS
from micropython import const

_NO_MEMORY = '{"device_id": "%s", "version": %d, "status": "rejected", "error": "no_memory"}'
_HEALTHY_MS = const(30000)  # running and acknowledged this long: the boot did not fail
FIRMWARE_VERSION = "0.1.0"  # a release's own (`gaitlink firmware release --version`)
DEVICE_FILE = "device.json"
# env readings in the order of _ENV's values (their names in range_checks)
# (a list: the strings of a constant tuple would each be a heap object, a list's are qstrs)
_ENV_NAMES = ["temperature", "humidity", "pressure"]
# Status and env messages as templates for uplink.fill (a zero byte per value): a dict and
# json.dumps would need fresh blocks of ~500 bytes each time
_VERSION = b'"firmware_version":"' + FIRMWARE_VERSION.encode() + b'"'
_STATUS = (
    b'{"device_id":"\0","boot_id":\0,"state":"\0","timestamp":"\0",'
    + _VERSION
    + b',"config_version":\0,"uptime_s":\0,"frames_sent":\0,"frames_dropped":\0'
    b',"range_violations":\0,"free_heap":\0,"heap_min_free":\0,"imu":"\0"'
    b',"faults":{"i2c_errors":\0,"imu_lost":\0,"imu_reinits":\0,"fifo_overflows":\0'
    b',"samples_lost":\0,"stuck_events":\0,"clipped_frames":\0,"env_errors":\0}'
    b',"clock":{"steps":\0,"slews":\0,"last_error_us":\0},"ota":\0}'
)
_ENV = (
    b'{"device_id":"\0","timestamp":"\0","sensor_data":{"temperature":{"value":\0'
    b',"unit":"\xc2\xb0C","quality":"\0"},"humidity":{"value":\0,"unit":"%","quality":"\0"}'
    b',"pressure":{"value":\0,"unit":"hPa","quality":"\0"}},"device_status":{'
    + _VERSION
    + b"\0\0}\0}"
)


class App:
    def __init__(self, cfg, hw):
        # built by compose.py, loaded for this once: its code would hold ~1 kB of heap for
        # the whole run (the attributes are listed there)
        import compose

        compose.build(self, cfg, hw)
        _unload("compose")

    def status(self, state):
        # the status report (docs/protocol.md §3.2) as the uplink's fill() takes it, at
        # publish time: no dict, no string (a fragmented heap may have no block for one)
        s = self.sampler
        c = self.clock
        v = self._status_vals  # [0], [1]: device id and boot id, set at boot
        v[2] = state
        v[3] = iso(c.now_us(), False).encode()
        v[4] = self.cfg["config_version"]
        v[5] = time.ticks_diff(time.ticks_ms(), self.started_ms) // 1000
        v[6] = self.ring.acked
        v[7] = self.ring.dropped
        v[8] = s.range_violations + self.env_out_of_range
        v[9] = gc.mem_free()
        v[10] = self.min_free
        v[11] = b"ok" if s.imu_ok else b"lost"
        v[12] = s.i2c_errors
        v[13] = s.imu_lost
        v[14] = s.imu_reinits
        v[15] = s.fifo_overflows
        v[16] = s.lost
        v[17] = s.stuck_events
        v[18] = s.clipped_frames
        v[19] = self.env_errors
        v[20] = c.steps
        v[21] = c.slews
        v[22] = c.last_error_us
        return _STATUS, v

    def _fault_count(self):
        s = self.sampler
        return s.i2c_errors + s.imu_lost + s.fifo_overflows + s.stuck_events + self.env_errors

    def _open_env(self):
        try:
            return BME280(self.hw.i2c, self.cfg["env_addr"])
        except OSError:
            return None

    def _env_reading(self, values):
        # values: (degC, %RH, hPa) or None after a bus error: the env message's values
        # (docs/protocol.md §3.1), checked against range_checks (counted once per reading)
        checks = self.cfg["range_checks"]
        v = self._env_vals  # [0]: the device id
        v[1] = iso(self.clock.now_us()).encode()
        for i in range(3):
            if values is None:
                v[2 + 2 * i] = b"null"
                v[3 + 2 * i] = b"sensor_error"
                continue
            x = values[i]
            v[2 + 2 * i] = b"%.2f" % x
            lim = checks.get(_ENV_NAMES[i])
            q = b"good"
            if lim and not lim[0] <= x <= lim[1]:
                q = b"out_of_range"
                self.env_out_of_range += 1
            v[3 + 2 * i] = q
        bat = self.hw.battery_pct()
        rssi = self.hw.rssi_dbm()
        v[8] = (b',"battery_level":%d' % bat) if bat is not None else b""
        v[9] = (b',"signal_strength":%d' % rssi) if rssi is not None else b""
        v[10] = self._location

    def env_message(self, _arg):
        # the newest reading, for the uplink's fill()
        return _ENV, self._env_vals

    async def _env_loop(self):
        while True:
            values = None
            if self.env is None:
                self.env = self._open_env()  # it stopped answering: set it up again
            try:
                if self.env is not None:
                    self.env.trigger()
                    await asyncio.sleep_ms(MEASURE_MS)
                    while self.env.busy():
                        await asyncio.sleep_ms(1)
                    values = self.env.read()
            except OSError:
                self.env = None
            if values is None:
                self.env_errors += 1
            self.env_readings += 1
            try:
                self._env_reading(values)  # values of the message sent next
                self.uplink.send_json(self.uplink.topic_env, self._env_writer)
            except MemoryError:
                self.uplink.reports_skipped += 1  # this reading is not sent; the loop lives
            await asyncio.sleep(self.cfg["env_period_s"])

    def _on_command(self, topic, payload):
        # from the uplink's reader: only note it; the supervisor applies it (it awaits)
        if topic == self.uplink.commands[0]:
            self.desired = payload  # a newer one replaces one not yet handled
        elif payload:  # ota; an empty retained message is a withdrawn offer
            self.offer = payload

    async def _handle_desired(self):
        payload = self.desired
        self.desired = None
        try:
            # the retained copy of the running version comes at every connect: nothing to
            # do, so not worth loading the handler for
            if json.loads(payload)["version"] == self.cfg["config_version"]:
                return
        except (ValueError, KeyError, TypeError):
            pass  # desired.py words the rejection
        try:
            await self._apply_desired(payload)
        except MemoryError:
            # a heap too small or too fragmented must not become a crash loop (the desired
            # config is retained and comes back at every connect): say so, keep running
            self.config_oom += 1
            if self.tasks[0].done():
                # it failed with the sampler stopped for the change: a reboot starts it
                # again, on the last good config (the new one was not persisted)
                raise
            _unload("desired", "rules", "sign", "devconfig")
            try:
                msg = _NO_MEMORY % (self.cfg["device_id"], self.cfg["config_version"])
                self.uplink.send_json(self.uplink.topic_reported, msg, True)
            except MemoryError:
                pass  # counted; the summary and the next boot tell

    async def _apply_desired(self, payload):
        # In steps, each module loaded only while needed and unloaded before the next
        # (resident, they would cost ~9 kB; together, more than a 100 kB heap has to spare):
        # desired.py (and sign.py) verify, rules.py checks the fields, devconfig.py applies,
        # persists and reports.
        cfg = self.cfg
        gc.collect()
        import desired

        key = unhexlify(cfg["device_key"]) if cfg["device_key"] else None
        rejected = checked = None
        try:
            verified = desired.verify(key, payload, cfg["config_version"])
        except desired.Rejected as e:
            verified = None
            rejected = e.args
        desired = payload = None  # this frame's names would keep them alive
        _unload("desired", "sign")
        if verified is None and rejected is None:
            return  # the running version: nothing to do
        import rules

        remote = rules.REMOTE  # the list outlives the module, for the report
        if verified is not None:
            try:
                checked = rules.check_desired(cfg, verified[1], verified[0], self.max_spf)
            except ValueError as e:
                rejected = ("invalid: " + str(e), verified[0])
        self.note_free()  # the low point: rules.py and the parsed values held
        rules = verified = None
        _unload("rules")
        import devconfig

        try:
            if rejected is not None:
                devconfig.report(self, "rejected", rejected[0], rejected[1], remote)
            else:
                # cfg holds the new values and version (rules.check_desired)
                await devconfig.apply(self, cfg["config_version"], checked[0], checked[1], remote)
        finally:
            devconfig = None
            _unload("devconfig")

    def note_free(self):
        # the heap while a config is applied, at its fullest points (summary, docs/firmware.md)
        gc.collect()
        free = gc.mem_free()
        if self.apply_min_free is None or free < self.apply_min_free:
            self.apply_min_free = free

    async def _update(self):
        # firmware updates (firmware/fwapp.py, loaded only while needed: resident, its code
        # would cost the app's heap); an offer put off for want of heap is tried again
        gc.collect()
        try:
            import fwapp
        except MemoryError:
            return  # an offer waits for the next tick
        await fwapp.step(self)
        fwapp = None
        if "state" not in self.fw:  # no release on probation
            _unload("fwapp", "fwboot")

    def _watch(self):
        # The watchdog, fed only while the sampler and the uplink make progress: samples
        # were taken, and frames were acknowledged or the ring has room (a broker outage
        # shorter than the ring is no reason to reset). On an ESP32 it is machine.WDT, which
        # resets the chip even if the interpreter hangs; the unix port has no such timer, so
        # the deadline is checked here and a crash stands in for the reset (main.py counts
        # it towards safe mode). Here in the app, not a module of its own: RAM.
        ring = self.ring
        seen = (self.sampler.samples, ring.acked)
        if seen[0] != self._wd_seen[0] and (
            seen[1] != self._wd_seen[1] or len(ring) < ring.capacity
        ):
            self._wd_fed = time.ticks_ms()
            if self._wdt is not None:
                self._wdt.feed()
        elif (
            self._wdt is None
            and time.ticks_diff(time.ticks_ms(), self._wd_fed) > self.cfg["watchdog_s"] * 1000
        ):
            raise RuntimeError("watchdog: no progress for %d s" % self.cfg["watchdog_s"])
        self._wd_seen = seen

    async def run(self):
        cfg = self.cfg
        self.tasks = tasks = [asyncio.create_task(self.sampler.run())]
        if self.has_env:
            tasks.append(asyncio.create_task(self._env_loop()))
        self.uplink.start()
        last_status = time.ticks_ms()
        try:
            while not self.sampler.done.is_set():
                await asyncio.sleep_ms(250)
                if tasks[0].done():
                    await tasks[0]  # the sampler died: re-raise its exception (main resets)
                if self.desired is not None:
                    await self._handle_desired()
                    cfg = self.cfg
                if self.offer is not None or self.fw is None or "state" in self.fw:
                    await self._update()
                if (
                    not self.healthy
                    and self.ring.acked
                    and time.ticks_diff(time.ticks_ms(), self.started_ms) >= _HEALTHY_MS
                ):
                    _healthy()  # connected, sampling and acknowledged long enough
                    self.healthy = True
                self._watch()
                gc.collect()  # here, not in the sample loop
                self.min_free = min(self.min_free, gc.mem_free())
                faults = self._fault_count()
                since = time.ticks_diff(time.ticks_ms(), last_status)
                # a new fault is reported at once (at most once a second), else periodically
                if since >= cfg["status_period_s"] * 1000 or (
                    faults != self._faults_sent and since >= 1000
                ):
                    self._faults_sent = faults
                    last_status = time.ticks_ms()
                    self.uplink.send_status(b"online")  # written when it is published
            # bounded run: every frame acknowledged (or the timeout), then a clean goodbye
            await self.uplink.flush(cfg["flush_timeout_s"] * 1000)
        finally:
            for t in tasks:
                t.cancel()
            await self.uplink.stop(b"offline", 5000)
        gc.collect()
        self.min_free = min(self.min_free, gc.mem_free())
        self.ring.release()  # the run is over: the slots' RAM goes, the counters stay
        import summary

        return summary.of(self)


def load_config(path):
    # config.py (defaults and validation) is needed once: drop it to give its RAM back
    import config

    try:
        return config.load(path)
    finally:
        config = None
        _unload("config", "rules")


def _unload(*names):
    # modules loaded for one job give their RAM back (a name in a frame would keep them).
    # Names as arguments: a constant tuple's strings would each be a heap object, for good
    for name in names:
        sys.modules.pop(name, None)
    gc.collect()


def _healthy():
    # this boot did not crash: clear the count that leads to safe mode (firmware/crashes.py)
    import crashes

    crashes.healthy()
    del sys.modules["crashes"]


async def main(path=DEVICE_FILE):
    cfg = load_config(path)
    hw = board.open_board(cfg)
    await board.connect_network(hw, cfg)
    summary = await App(cfg, hw).run()
    _healthy()  # a bounded run that ended cleanly
    json.dump({"summary": summary}, sys.stdout)  # streamed: no block as long as the text
    print()
