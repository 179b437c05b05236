# Composes the app at boot: the ring, clock, IMU and env sensor, uplink, sampler and the
# app's own state, and sets up the uplink (update and safe mode make one too). Run once,
# then unloaded: this code would otherwise hold its share of a 100 kB heap for the whole
# run. The app's modules are imported where they are used: the uplink's setup needs none.
import gc
import json
import os
import struct
import time

FW_FILE = "fw.json"  # = fwboot.FW_FILE


def build(app, cfg, hw):
    import board
    from clock import Clock
    from drivers.mpu6050 import DRIVERS
    from frame import size
    from ring import Ring
    from sampler import Sampler
    from uplink import Uplink

    # the ring first: the biggest block, allocated before the heap fragments
    slot = size(cfg["samples_per_frame"])
    app.ring = Ring(slot, cfg["ring_bytes"] // slot)
    app.cfg = cfg
    app.hw = hw
    app.clock = Clock()
    app.boot_id = struct.unpack("<I", os.urandom(4))[0]
    app.started_ms = time.ticks_ms()
    app.imu = DRIVERS[hw.imu_part](hw.i2c, cfg["imu_addr"])
    app.imu.configure(cfg["rate_hz"], cfg["acc_range_g"], cfg["gyro_range_dps"])
    # the sampler next: its attributes take one of the biggest blocks after the ring's
    app.sampler = Sampler(app.imu, app.ring, app.clock, app.boot_id, cfg, hw.imu_fifo)
    app.env = app._open_env()
    app.has_env = app.env is not None  # a board without one sends no env telemetry
    if not app.has_env:
        print("app: no environmental sensor")
    app.uplink = Uplink(cfg, app.ring, app.clock, app.boot_id, app.status)
    app.uplink.on_command = app._on_command
    app.sampler.on_frame = app.uplink.wake  # a finished frame wakes the uplink
    app.max_spf = cfg["samples_per_frame"]  # what the ring's slots hold
    app.desired = None  # the newest config/desired payload not yet handled
    app.apply_min_free = None  # free heap in the middle of applying a config
    app.config_oom = 0  # desired configs dropped for want of heap
    app.offer = None  # the newest firmware offer (ota) not yet handled
    # firmware updates' state as fwapp.py keeps it; None: to be read (a device updated)
    app.fw = None if FW_FILE in os.listdir() else {}
    app.healthy = False  # the boot's crash count is cleared once this run is healthy
    app._wd_fed = time.ticks_ms()
    app._wd_seen = (-1, -1)  # (samples, acked) at the last check
    app._wdt = None
    if board.ESP32:
        from machine import WDT

        app._wdt = WDT(timeout=cfg["watchdog_s"] * 1000)
    app.env_readings = 0
    app.env_out_of_range = 0
    app.env_errors = 0
    app._faults_sent = 0
    app._status_vals = [cfg["device_id"].encode(), app.boot_id] + [0] * 21 + [b"null"]
    loc = cfg["location"]
    app._location = (b',"location":' + json.dumps(loc).encode()) if loc else b""
    app._env_vals = [app._status_vals[0]] + [b""] * 10
    app._env_writer = app.env_message  # bound once: a bound method is an allocation
    gc.collect()
    app.min_free = gc.mem_free()


def uplink(u, cfg, ring, clock, boot_id, status_fn):
    # Uplink.__init__ (uplink.py)
    import asyncio

    from mqtt import MQTTProtocol
    from uplink import OUT_BYTES

    dev = cfg["device_id"]
    base = "gaitlink/v1/" + dev + "/"
    u.topic_imu = (base + "imu").encode()
    u.topic_env = (base + "env").encode()
    u.topic_status = (base + "status").encode()
    u.topic_reported = (base + "config/reported").encode()
    # cloud -> device: handed to on_command(topic, payload) (devconfig, OTA)
    u.commands = ((base + "config/desired").encode(), (base + "ota").encode())
    u.on_command = None
    u.cfg = cfg
    u.ring = ring
    u.clock = clock
    u.status_fn = status_fn  # status_fn(state) -> (template, values), see fill()
    u.proto = MQTTProtocol(dev, cfg["mqtt_user"], cfg["mqtt_password"], cfg["keepalive_s"])
    will = json.dumps({"device_id": dev, "state": "offline", "boot_id": boot_id})
    u._will = (u.topic_status.decode(), will, 1, True)
    u._pid = 0
    u._wake = asyncio.Event()
    u._outbox = []  # [topic, payload, retain, arg]
    # only the session loop fills it, then publishes. A device ever updated (fw.json) gets
    # room for the firmware update object from boot (fwapp.changed's 832 bytes): later, a
    # fragmented heap may have no block that big (seen: a rollback's report, MemoryError)
    u._out = bytearray(832 if FW_FILE in os.listdir() else OUT_BYTES)  # 832 = fwapp._OUT_BYTES
    u._out_mv = memoryview(u._out)
    u._json_pids = []  # unacked JSON publishes of this session
    u._error = None
    u._tasks = []
    u._task = None
    u._stopping = False
    u._final = None
    u._last_rx = 0
    u.connected = False
    u.connections = 0
    u.resent = 0
    u.outbox_dropped = 0
    u.reports_skipped = 0  # written messages that did not fit (or found no memory)
    u.bad_messages = 0
