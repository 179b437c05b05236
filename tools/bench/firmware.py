"""`gaitlink bench firmware`: the firmware's sampling, end to end, in an ESP32-sized heap.

For each rate, the real firmware runs under `micropython -X heapsize=100k` against the
register-level simulator (served by hardware/simbus.py) and publishes to a real mosquitto
of its own; a paho subscriber with a persistent session records every frame. The frames
are de-duplicated with the ingest's own sequence tracker and every sample is compared with
the simulator's truth (sample k of the motion model): nothing lost, nothing duplicated,
nothing altered. Simulated time may run `warp` times faster than real time (the firmware's
clock and the simulator's are both warped), which is what makes a 2-hour run affordable.
Optionally the broker is restarted a few times during the run (the device's link drops).

Per-sample CPU: `busy` is the sampler's own time per sample (FIFO reads over the simulated
bus, decode, checks, framing), divided by the warp; `framing` is the decode/check/frame
path alone, timed on pre-filled FIFO data. The ESP32 estimate multiplies the framing cost
by ESP32_FACTOR and adds the I2C transfer of a 12-byte FIFO sample at 400 kHz.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RATES = (100, 200, 500)
SECONDS = 600  # simulated seconds per rate
# How many times slower an ESP32 at 240 MHz runs MicroPython bytecode than this host: the
# score of MicroPython's own benchmark tests/perf_bench/misc_pystone.py (loops per second)
# on each. ESP32 at 240 MHz: 1 732 (v1.13) and 1 166 (v1.13 with the interpreter pinned to
# core 0), posted by the maintainer in micropython/micropython#6565; 1 661 pystones/s with
# the v1.12 release at 240 MHz in micropython/micropython#5673 (same unit: loops per second).
# This host (AMD EPYC, MicroPython 1.29 unix port): ~270 000 loops/s (user CPU time of
# 100 000 loops, not wall time, so the host's load does not count). 270 000 / 1 700 ~ 160;
# with the core-0 figure it would be ~230. Pystone is not the sample path (struct and array
# calls in C weigh more there), and the ESP32 figures are from older releases, so this is an
# estimate; --esp32-factor takes a factor measured on a board (docs/firmware.md says how).
ESP32_FACTOR = 160.0
I2C_US_PER_SAMPLE = 12 * 9 / 400_000 * 1e6  # 12 bytes, 9 bit times each, at 400 kHz
ACC_G, GYRO_DPS = 8, 1000  # the firmware's default ranges

FRAMING = """
import json, time
from clock import Clock
from drivers.mpu6050 import MPU6050, decode
from ring import Ring
from sampler import Sampler
import frame

class Bus:
    data = bytes((i * 37) & 0xFF for i in range(%(burst_bytes)d))
    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x75:
            buf[0] = 0x68
            return
        buf[:] = self.data[: len(buf)]
    def writeto_mem(self, addr, reg, buf):
        pass

imu = MPU6050(Bus(), 0x68)
imu.acc_scale, imu.gyro_scale = 0.0024, 0.0005
cfg = {"rate_hz": %(rate)d, "samples_per_frame": 50, "max_samples": 0, "stuck_samples": 25,
       "range_checks": {}}
s = Sampler(imu, Ring(frame.size(50), 4), Clock(), 1, cfg)
s._anchor(time.ticks_us(), 0)
buf = s._fbuf
imu.fifo_read(buf)
n = 0
t = time.ticks_us()
for _ in range(%(bursts)d):
    i = 0
    while i < len(buf):
        s._take(decode(buf, i, s.counts))
        i += 12
        n += 1
dt = time.ticks_diff(time.ticks_us(), t)
print(json.dumps({"us_per_sample": dt / n, "samples": n}))
"""


@dataclass
class RateResult:
    rate_hz: int
    seconds: float
    warp: int
    link_drops: int
    wall_s: float = 0.0
    summary: dict = field(default_factory=dict)
    frames_received: int = 0
    duplicates_dropped: int = 0
    missing_seqs: int = 0
    samples_checked: int = 0
    samples_wrong: int = 0  # not the sensor's sample at its place: corruption
    gaps: int = 0  # gaps the device flagged (OVERRUN)
    gap_time_error_max: int = 0  # periods between a resynchronised frame's time and its truth
    heap_min_free_series: list = field(default_factory=list)
    heap_series: list = field(default_factory=list)
    framing_us: float = 0.0
    broker_down_s: list = field(default_factory=list)  # per link drop: stop until it listens

    @property
    def busy_us(self) -> float:
        s = self.summary
        return s["busy_us"] / self.warp / max(1, s["samples"])

    @property
    def ok(self) -> bool:
        s = self.summary
        return (
            s.get("samples") == round(self.rate_hz * self.seconds)
            and s["lost"] == 0
            and self.gaps == 0
            and s["dropped"] == 0
            and s["unacked"] == 0
            and self.missing_seqs == 0
            and self.samples_wrong == 0
            and self.samples_checked == s["samples"]
        )


class _Broker:
    """The site broker as the stack configures it (tools/stack/accounts.py): the device's
    own account and the site ACL, no anonymous access; without TLS, as the site broker."""

    def __init__(self, home: Path, device: str) -> None:
        from gaitlink.tools.stack import accounts, find_binary, free_port
        from gaitlink.tools.stack.mosquitto import render_config

        home.mkdir(parents=True, exist_ok=True)
        secrets = home / "state"
        self.device = accounts.add_device(secrets, device)
        # the recorder reads the device's topics as the site's gateway does
        self.reader = accounts.role_account(secrets, "site_gateway")
        passwd, acl = accounts.write_broker_files(secrets, accounts.SITE, home)
        self.port = free_port()
        self.conf = home / "mosquitto.conf"
        text = render_config(
            self.port, home, home / "mosquitto.log", "127.0.0.1", password_file=passwd, acl_file=acl
        )
        self.conf.write_text(text)
        self.binary = str(find_binary("mosquitto"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import socket

        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        # SIGTERM: the broker saves its sessions and queued messages, the device's link drops
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


class _Recorder:
    """A paho subscriber with a persistent session: frames and status, in arrival order."""

    def __init__(self, port: int, device: str, account) -> None:
        import paho.mqtt.client as mqtt

        self.frames: list[bytes] = []
        self.status: list[dict] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-rec-{device}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.on_connect = lambda c, *a: c.subscribe(f"gaitlink/v1/{device}/#", qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.username_pw_set(account.username, account.password)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("the recorder's subscription was not acknowledged")

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            if msg.topic.endswith("/imu"):
                self.frames.append(bytes(msg.payload))
            elif msg.topic.endswith("/status"):
                self.status.append(json.loads(msg.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _truth(seed: int, rate: int, n: int):
    import numpy as np

    from gaitlink.hardware.sim import motion
    from gaitlink.hardware.sim.mpu6050 import ACC_LSB_PER_G, GYRO_LSB_PER_DPS, counts

    acc = motion.G / ACC_LSB_PER_G[(2, 4, 8, 16).index(ACC_G)]
    gyro = 3.141592653589793 / 180.0 / GYRO_LSB_PER_DPS[(250, 500, 1000, 2000).index(GYRO_DPS)]
    out = np.empty((n, 6), dtype=np.int16)
    for k in range(n):
        v = motion.sample(seed, k, float(rate))
        out[k] = [counts(v[j], acc if j < 3 else gyro) for j in range(6)]
    return out


def framing_cost(rate: int, state_dir: Path) -> float:
    """µs per sample of decode + checks + frame add under the unix port (no I/O)."""
    from gaitlink.tools.device import build_firmware, find_tool

    build = build_firmware(state_dir)
    burst = max(1, min(rate * 50 // 1000, 1024 // 12 // 4))
    code = FRAMING % {"burst_bytes": burst * 12, "rate": rate, "bursts": 20000 // burst}
    script = Path(state_dir) / f"framing-{rate}.py"
    script.write_text(code)
    runs = []
    for _ in range(5):
        res = subprocess.run(
            [find_tool("micropython"), "-X", "heapsize=100k", str(script)],
            env={"MICROPYPATH": f".frozen:{build}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if res.returncode:
            raise RuntimeError(res.stderr)
        runs.append(json.loads(res.stdout.splitlines()[-1])["us_per_sample"])
    runs.sort()
    return runs[len(runs) // 2]


def run_rate(
    rate: int,
    seconds: float,
    *,
    warp: int,
    link_drops: int = 0,
    seed: int = 7,
    state_dir: Path,
    log=print,
) -> RateResult:
    import numpy as np

    from gaitlink.cloud.ingest.sequence import SequenceTracker, Verdict
    from gaitlink.cloud.protocol.frame import QUALITY_OVERRUN, decode
    from gaitlink.tools.device import start_device

    result = RateResult(rate, seconds, warp, link_drops)
    device = f"bench-{rate}"
    broker = _Broker(state_dir / f"broker-{rate}", device)
    broker.start()
    rec = _Recorder(broker.port, device, broker.reader)
    n = round(rate * seconds)
    try:
        dev = start_device(
            device,
            "127.0.0.1",
            broker.port,
            seed=seed,
            rate_hz=rate,
            max_samples=n,
            state_dir=state_dir / "devices",
            warp=warp,
            extra={
                "status_period_s": 30,
                "reconnect_min_ms": 100,
                "reconnect_max_ms": 1000,
                **broker.device.device_fields(),
            },
        )
        started = time.monotonic()  # after the build and the simulator's start
        with dev:
            wall = seconds / warp
            for i in range(link_drops):
                time.sleep(max(0.0, started + wall * (i + 1) / (link_drops + 1) - time.monotonic()))
                down = time.monotonic()
                broker.stop()
                time.sleep(0.2)
                broker.start()
                result.broker_down_s.append(round(time.monotonic() - down, 3))
                log(
                    f"  {rate} Hz: link dropped at {down - started:.0f} s (wall), "
                    f"broker back after {result.broker_down_s[-1]:.2f} s"
                )
            result.summary = dev.wait(timeout=wall * 3 + 120)
        result.wall_s = time.monotonic() - started
        deadline = time.monotonic() + 60
        while len(rec.frames) < result.summary["frames"] and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        rec.close()
        broker.stop()
    tracker = SequenceTracker()
    kept = {}
    for payload in rec.frames:
        f = decode(payload)
        seen = tracker.observe(f.boot_id, f.seq, f.t0_us, f.n_samples * f.period_us)
        if seen.verdict is Verdict.DUPLICATE:
            result.duplicates_dropped += 1
            continue
        kept.setdefault(f.seq, f)
    result.frames_received = len(rec.frames)
    result.missing_seqs = len(set(range(result.summary["frames"])) - set(kept))
    if kept:
        # each frame's first sample index k: consecutive after the previous frame, or, after
        # a gap the device flagged (OVERRUN), as many periods later as the frame times say.
        # There the true index is searched nearby: its distance is the time error of the
        # resynchronisation (in periods); a frame that matches nowhere is corrupt.
        # Frames missing upstream (a seq gap) are placed the same way.
        truth = _truth(seed, rate, n + result.summary["lost"] + 64)
        k, prev = 0, None
        for seq in sorted(kept):
            f = kept[seq]
            m = f.n_samples
            if prev is None:
                first = result.summary["first_t0_us"]
                k = max(0, round((f.t0_us - first) / f.period_us))
            elif f.quality & QUALITY_OVERRUN or seq != prev.seq + 1:
                end = prev.t0_us + prev.n_samples * prev.period_us
                k += max(1, round((f.t0_us - end) / f.period_us))
            if prev is None or f.quality & QUALITY_OVERRUN or seq != prev.seq + 1:
                for d in sorted(range(-64, 65), key=abs):
                    j = k + d
                    if j >= 0 and np.array_equal(f.counts, truth[j : j + m]):
                        result.gap_time_error_max = max(result.gap_time_error_max, abs(d))
                        k = j
                        break
                result.gaps += prev is not None
            result.samples_checked += m
            result.samples_wrong += int((~np.all(f.counts == truth[k : k + m], axis=1)).sum())
            k += m
            prev = f
    result.heap_min_free_series = [s["heap_min_free"] for s in rec.status if "heap_min_free" in s]
    # (uptime s, free heap when the status was written, running minimum after gc.collect):
    # a heap that fragments or leaks shows as a falling line over the hours
    result.heap_series = [
        [s["uptime_s"], s["free_heap"], s["heap_min_free"]]
        for s in rec.status
        if "free_heap" in s and s.get("state") == "online"
    ]
    result.framing_us = framing_cost(rate, state_dir / "framing")
    return result


def _quarter_last(series: list) -> list | None:
    return [series[len(series) // 4], series[-1]] if series else None


def _by_quarter(series: list) -> list | None:
    # the lowest free heap seen in each quarter of the run's status reports
    if len(series) < 4:
        return None
    q = len(series) / 4
    return [min(row[1] for row in series[int(i * q) : int((i + 1) * q)]) for i in range(4)]


def to_json(results: list[RateResult], factor: float) -> list[dict]:
    out = []
    for r in results:
        s = r.summary
        period = 1e6 / r.rate_hz
        esp = r.framing_us * factor + I2C_US_PER_SAMPLE
        out.append(
            {
                "rate_hz": r.rate_hz,
                "simulated_s": r.seconds,
                "warp": r.warp,
                "wall_s": round(r.wall_s, 1),
                "link_drops": r.link_drops,
                "ok": r.ok,
                "samples": s.get("samples"),
                "samples_checked": r.samples_checked,
                "samples_wrong": r.samples_wrong,
                "gaps_flagged": r.gaps,
                "gap_time_error_max_periods": r.gap_time_error_max,
                "lost_on_device": s.get("lost"),
                "ring_dropped": s.get("dropped"),
                # the most frames the ring ever held against what it holds: the margin that
                # the longest link drop left (frames of samples_per_frame samples)
                "ring_peak": s.get("ring_peak"),
                "ring_capacity": s.get("ring_capacity"),
                "broker_down_s": r.broker_down_s,
                "missing_seqs": r.missing_seqs,
                "duplicates_dropped": r.duplicates_dropped,
                "resent": s.get("resent"),
                "connections": s.get("connections"),
                "fifo_overflows": s.get("fifo_overflows"),
                "heap_total": s.get("heap_total"),
                "heap_min_free": s.get("heap_min_free"),
                # the running minimum after a quarter of the run and at its end: equal when
                # the heap is stable (the first status comes right after boot)
                "heap_min_free_quarter_last": _quarter_last(r.heap_min_free_series),
                "free_heap_min_by_quarter": _by_quarter(r.heap_series),
                "heap_series": r.heap_series,
                "status_skipped": s.get("status_skipped"),
                "outbox_dropped": s.get("outbox_dropped"),
                "sensor_period_us": s.get("sensor_period_us"),
                "busy_us_per_sample": round(r.busy_us, 2),
                "busy_share": round(r.busy_us / period, 5),
                "framing_us_per_sample": round(r.framing_us, 2),
                "esp32_us_per_sample": round(esp, 1),
                "esp32_share": round(esp / period, 4),
                "esp32_factor": factor,
            }
        )
    return out


def to_markdown(rows: list[dict]) -> str:
    from gaitlink.tools.bench.report import table

    head = (
        "rate Hz", "sim s", "warp", "wall s", "drops", "ok", "samples", "wrong", "gaps",
        "lost", "ring dropped", "ring peak/cap", "missing", "dups", "heap min free",
        "min free ¼/end", "busy µs", "busy %", "framing µs", "ESP32 µs", "ESP32 %",
    )  # fmt: skip
    body = [
        (
            r["rate_hz"],
            r["simulated_s"],
            r["warp"],
            r["wall_s"],
            r["link_drops"],
            r["ok"],
            r["samples"],
            r["samples_wrong"],
            r["gaps_flagged"],
            r["lost_on_device"],
            r["ring_dropped"],
            f"{r['ring_peak']}/{r['ring_capacity']}",
            r["missing_seqs"],
            r["duplicates_dropped"],
            r["heap_min_free"],
            str(r["heap_min_free_quarter_last"]),
            r["busy_us_per_sample"],
            100 * r["busy_share"],
            r["framing_us_per_sample"],
            r["esp32_us_per_sample"],
            100 * r["esp32_share"],
        )
        for r in rows
    ]
    factor = rows[0]["esp32_factor"] if rows else ESP32_FACTOR
    return (
        table(head, body)
        + f"\n\nESP32 estimate: framing µs × {factor:g} (assumed desktop/ESP32 factor, see "
        "tools/bench/firmware.py) + 270 µs of I2C transfer per 12-byte FIFO sample at 400 kHz.\n"
    )


def auto_warp(rate: int) -> int:
    # about 1000 simulated samples per wall second: the FIFO (85 samples) then still covers
    # 85 ms of wall time, more than a GC pause or a busy host takes from the interpreter
    return max(1, 1000 // rate)


def run(
    rates=RATES,
    seconds: float = SECONDS,
    *,
    warp: int = 0,
    link_drops: int = 0,
    state_dir: Path | None = None,
    log=print,
) -> list[RateResult]:
    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gaitlink-bench-fw-")
        state_dir = Path(tmp.name)
    try:
        results = []
        for rate in rates:
            w = warp or auto_warp(rate)
            log(f"bench firmware: {rate} Hz, {seconds:g} simulated s at warp {w}")
            results.append(
                run_rate(rate, seconds, warp=w, link_drops=link_drops, state_dir=state_dir, log=log)
            )
        return results
    finally:
        if tmp is not None:
            tmp.cleanup()
