# Composes board, drivers, sampler and uplink; the supervisor loop reports status, keeps the
# heap tidy and, for bounded runs, flushes and prints one JSON summary line.
import asyncio
import gc
import json
import os
import struct
import sys
import time

import board
from clock import Clock, iso
from drivers.bme280 import BME280, MEASURE_MS
from drivers.mpu6050 import DRIVERS
from frame import size
from micropython import const
from ring import Ring
from sampler import Sampler
from uplink import Uplink

_NO_MEMORY = '{"device_id": "%s", "version": %d, "status": "rejected", "error": "no_memory"}'
_HEALTHY_MS = const(30000)  # running and acknowledged this long: the boot did not fail
FIRMWARE_VERSION = "0.1.0"
DEVICE_FILE = "device.json"
_ENV_UNITS = (("temperature", "°C", 2), ("humidity", "%", 1), ("pressure", "hPa", 2))


class App:
    def __init__(self, cfg, hw):
        # the ring first: the biggest block, allocated before the heap fragments
        slot = size(cfg["samples_per_frame"])
        self.ring = Ring(slot, cfg["ring_bytes"] // slot)
        self.cfg = cfg
        self.hw = hw
        self.clock = Clock()
        self.boot_id = struct.unpack("<I", os.urandom(4))[0]
        self.started_ms = time.ticks_ms()
        self.imu = DRIVERS[hw.imu_part](hw.i2c, cfg["imu_addr"])
        self.imu.configure(cfg["rate_hz"], cfg["acc_range_g"], cfg["gyro_range_dps"])
        self.env = self._open_env()
        self.has_env = self.env is not None  # a board without one sends no env telemetry
        if not self.has_env:
            print("app: no environmental sensor")
        self.uplink = Uplink(cfg, self.ring, self.clock, self.boot_id, self.status)
        self.uplink.on_command = self._on_command
        self.max_spf = cfg["samples_per_frame"]  # what the ring's slots hold
        self.desired = None  # the newest config/desired payload not yet handled
        self.apply_min_free = None  # free heap in the middle of applying a config
        self.config_oom = 0  # desired configs dropped for want of heap
        self.healthy = False  # the boot's crash count is cleared once this run is healthy
        self._wd_fed = time.ticks_ms()
        self._wd_seen = (-1, -1)  # (samples, acked) at the last check
        self._wdt = None
        if board.ESP32:
            from machine import WDT

            self._wdt = WDT(timeout=cfg["watchdog_s"] * 1000)
        self.sampler = Sampler(
            self.imu, self.ring, self.clock, self.boot_id, cfg, hw.imu_fifo, self.uplink.wake
        )
        self.env_readings = 0
        self.env_out_of_range = 0
        self.env_errors = 0
        self._faults_sent = 0
        self.status_skipped = 0  # status reports skipped for want of memory
        gc.collect()
        self.min_free = gc.mem_free()

    def status(self, state):
        s = self.sampler
        return json.dumps(
            {
                "device_id": self.cfg["device_id"],
                "state": state,
                "boot_id": self.boot_id,
                "timestamp": iso(self.clock.now_us(), False),
                "firmware_version": FIRMWARE_VERSION,
                "config_version": self.cfg["config_version"],
                "uptime_s": time.ticks_diff(time.ticks_ms(), self.started_ms) // 1000,
                "frames_sent": self.ring.acked,
                "frames_dropped": self.ring.dropped,
                "range_violations": s.range_violations + self.env_out_of_range,
                "free_heap": gc.mem_free(),
                "heap_min_free": self.min_free,
                "imu": "ok" if s.imu_ok else "lost",
                "faults": {
                    "i2c_errors": s.i2c_errors,
                    "imu_lost": s.imu_lost,
                    "imu_reinits": s.imu_reinits,
                    "fifo_overflows": s.fifo_overflows,
                    "samples_lost": s.lost,
                    "stuck_events": s.stuck_events,
                    "clipped_frames": s.clipped_frames,
                    "env_errors": self.env_errors,
                },
                "clock": {
                    "steps": self.clock.steps,
                    "slews": self.clock.slews,
                    "last_error_us": self.clock.last_error_us,
                },
            }
        )

    def _fault_count(self):
        s = self.sampler
        return s.i2c_errors + s.imu_lost + s.fifo_overflows + s.stuck_events + self.env_errors

    def _open_env(self):
        try:
            return BME280(self.hw.i2c, self.cfg["env_addr"])
        except OSError:
            return None

    def env_message(self, values):
        # values: (degC, %RH, hPa) or None after a bus error
        checks = self.cfg["range_checks"]
        data = {}
        for i in range(3):
            name, unit, digits = _ENV_UNITS[i]
            if values is None:
                data[name] = {"value": None, "unit": unit, "quality": "sensor_error"}
                continue
            v = round(values[i], digits)
            lim = checks.get(name)
            q = "good"
            if lim and not lim[0] <= v <= lim[1]:
                q = "out_of_range"
                self.env_out_of_range += 1
            data[name] = {"value": v, "unit": unit, "quality": q}
        msg = {
            "device_id": self.cfg["device_id"],
            "timestamp": iso(self.clock.now_us()),
            "sensor_data": data,
            "device_status": {"firmware_version": FIRMWARE_VERSION},
        }
        if self.cfg["location"]:
            msg["location"] = self.cfg["location"]
        bat = self.hw.battery_pct()
        if bat is not None:
            msg["device_status"]["battery_level"] = bat
        rssi = self.hw.rssi_dbm()
        if rssi is not None:
            msg["device_status"]["signal_strength"] = rssi
        return json.dumps(msg)

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
            self.uplink.send_json(self.uplink.topic_env, self.env_message(values))
            await asyncio.sleep(self.cfg["env_period_s"])

    def summary(self):
        s = self.sampler
        return {
            "device_id": self.cfg["device_id"],
            "boot_id": self.boot_id,
            "samples": s.samples,
            "frames": s.frames,
            "acked": self.ring.acked,
            "dropped": self.ring.dropped,
            "unacked": len(self.ring),
            "resent": self.uplink.resent,
            "connections": self.uplink.connections,
            "first_t0_us": s.first_t0_us,
            "last_sample_us": s.last_sample_us,
            "seq_first": 0,
            "seq_last": (s.seq - 1) & 0xFFFFFFFF if s.frames else None,
            "period_us": s.period_us,
            "imu_part": self.hw.imu_part,
            "fifo": s.fifo,
            "burst": s.burst,
            "lost": s.lost,
            "fifo_overflows": s.fifo_overflows,
            "i2c_errors": s.i2c_errors,
            "imu_lost": s.imu_lost,
            "imu_reinits": s.imu_reinits,
            "stuck_events": s.stuck_events,
            "clipped_frames": s.clipped_frames,
            "range_violations": s.range_violations,
            "env_errors": self.env_errors,
            "status_skipped": self.status_skipped,
            "busy_us": s.busy_us,
            "sensor_period_us": s.sclock.period_us(),
            "clock_steps": self.clock.steps,
            "clock_slews": self.clock.slews,
            "clock_error_us": self.clock.last_error_us,
            "env_readings": self.env_readings,
            "seed": self.cfg["seed"],
            "heap_min_free": self.min_free,
            "heap_free_applying": self.apply_min_free,
            "config_oom": self.config_oom,
            "heap_total": gc.mem_free() + gc.mem_alloc(),
        }

    def _on_command(self, topic, payload):
        # from the uplink's reader: only note it; the supervisor applies it (it awaits)
        if topic == self.uplink.commands[0]:
            self.desired = payload  # a newer one replaces one not yet handled

    async def _handle_desired(self):
        try:
            # the retained copy of the running version comes at every connect: nothing to
            # do, so not worth loading the handler (~9 kB) for
            if json.loads(self.desired)["version"] == self.cfg["config_version"]:
                self.desired = None
                return
        except (ValueError, KeyError, TypeError):
            pass  # devconfig words the rejection
        try:
            # loaded only while needed: resident, its code would cost ~9 kB of heap
            import devconfig

            await devconfig.handle(self)
        except MemoryError:
            # a heap too small or too fragmented must not become a crash loop (the desired
            # config is retained and comes back at every connect): say so, keep running
            self.desired = None
            self.config_oom += 1
            if self.tasks[0].done():
                # it failed with the sampler stopped for the change: a reboot starts it
                # again, on the last good config (the new one was not persisted)
                raise
            gc.collect()
            try:
                msg = _NO_MEMORY % (self.cfg["device_id"], self.cfg["config_version"])
                self.uplink.send_json(self.uplink.topic_reported, msg, True)
            except MemoryError:
                pass  # counted; the summary and the next boot tell
        finally:
            devconfig = None  # this frame's name would keep the module alive
            for name in ("devconfig", "rules", "sign"):
                sys.modules.pop(name, None)

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
                    try:
                        self.uplink.send_json(self.uplink.topic_status, self.status("online"), True)
                    except MemoryError:
                        # a fragmented heap (seen after ~1.5 h with link drops in a 100 kB
                        # heap): skip this report, never stop sampling for it
                        self.status_skipped += 1
                        gc.collect()
            # bounded run: every frame acknowledged (or the timeout), then a clean goodbye
            await self.uplink.flush(cfg["flush_timeout_s"] * 1000)
        finally:
            for t in tasks:
                t.cancel()
            await self.uplink.stop(self.status("offline"), 5000)
        gc.collect()
        self.min_free = min(self.min_free, gc.mem_free())
        return self.summary()


def load_config(path):
    # config.py (defaults and validation) is needed once: drop it to give its RAM back
    import config

    try:
        return config.load(path)
    finally:
        for name in ("config", "rules"):
            sys.modules.pop(name, None)
        gc.collect()


def _healthy():
    # this boot did not crash: clear the count that leads to safe mode (firmware/safemode.py)
    import safemode

    safemode.healthy()
    del sys.modules["safemode"]


async def main(path=DEVICE_FILE):
    cfg = load_config(path)
    hw = board.open_board(cfg)
    await board.connect_network(hw, cfg)
    summary = await App(cfg, hw).run()
    _healthy()  # a bounded run that ended cleanly
    print(json.dumps({"summary": summary}))
