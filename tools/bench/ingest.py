"""`gaitlink bench ingest`: the ingest against the raw speed of the same InfluxDB.

In one run, on this machine, with a local stack (mosquitto, InfluxDB) in a temp dir:
1. raw limit: pre-built line protocol for the `imu` schema (the lines the ingest writes),
   in batches of `batch_lines`, posted by one writer and by `writers` concurrent writers;
2. gaitlink: a backlog of `samples` valid frames from `devices` devices waits on the cloud
   broker; a `gaitlink ingest run` process (gait on) then takes it through decode,
   validation, dedup, gait and writing. The rate is taken between 10 % and 90 % of the
   samples written (the ingest's own counter), so start-up is not in it;
3. the same backlog with `bad_fraction` of the frames corrupt (dead letters);
   1-3 are repeated `repeats` times, interleaved, and reported as medians;
4. latency: live frames at half the measured gaitlink rate, each stamped with its publish
   time as t0; a poller asks InfluxDB every `poll_s` for each device's newest sample, so a
   frame's latency (publish -> visible in InfluxDB) is known to within one poll.
Peak RSS is the ingest's VmHWM at the end of each run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitlink.cloud.influx.client import auth_headers
from gaitlink.cloud.protocol import frame as wire
from gaitlink.mqtt.link import Link
from gaitlink.tools import services
from gaitlink.tools.stack import Stack, free_port

N = 50  # samples per frame (the firmware default)
PERIOD_US = 10_000  # 100 Hz
ACC_SCALE = 16 * 9.80665 / 32768
GYRO_SCALE = 2000 * np.pi / 180 / 32768


@dataclass(frozen=True)
class Spec:
    samples: int = 500_000
    devices: int = 20
    writers: int = 4
    batch_lines: int = 5_000
    bad_fraction: float = 0.01
    latency_s: float = 10.0
    repeats: int = 3
    poll_s: float = 0.05
    profile: Path | None = None  # py-spy record (raw, collapsed stacks) of the clean run


# -- the raw limit -------------------------------------------------------------------------
def _raw_lines(samples: int, devices: int, t0_us: int) -> list[str]:
    """The `imu` lines the ingest writes for such frames, by its own encoder."""
    from gaitlink.cloud.ingest.points import imu_lines, imu_values

    rng = np.random.default_rng(1)
    counts = rng.integers(-2000, 2000, (samples, 6)).astype(np.int16)
    per = samples // devices // N * N
    lines = []
    for d in range(devices):
        for k in range(0, per, N):
            at = t0_us + k * PERIOD_US
            frame = wire.decode(_encode(counts[d * per + k : d * per + k + N], d + 1, k, at))
            units, _ = imu_values(frame.physical())
            lines += imu_lines(f"bench-{d:03d}", "foot", frame, units).split("\n")
    return lines


async def _post_all(
    url: str, database: str, bodies: list[bytes], writers: int, headers: dict[str, str]
) -> float:
    import aiohttp

    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    params = {"db": database, "precision": "u"}

    async def writer(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(
                f"{url}/write", params=params, data=body, headers=headers
            ) as resp:
                if resp.status != 204:
                    raise RuntimeError(f"raw write: HTTP {resp.status}: {await resp.text()}")

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(writer(session) for _ in range(writers)))
        return time.perf_counter() - started


def raw_limit(stack: Stack, spec: Spec, writers: int, t0_us: int, tag: str) -> float:
    database = f"bench_raw_{tag}"
    stack.create_database(database)
    lines = _raw_lines(spec.samples, spec.devices, t0_us)
    bodies = [
        "\n".join(lines[i : i + spec.batch_lines]).encode()
        for i in range(0, len(lines), spec.batch_lines)
    ]
    headers = auth_headers(stack.influx_settings("influx_writer"))
    seconds = asyncio.run(_post_all(stack.influx_url, database, bodies, writers, headers))
    return len(lines) / seconds


# -- gaitlink ------------------------------------------------------------------------------
def _frames(spec: Spec, t0_us: int, bad_every: int | None) -> list[tuple[str, bytes]]:
    from gaitlink.hardware.walker import synthesize

    per_device = spec.samples // spec.devices // N
    walk = synthesize("foot", 100.0, per_device * N / 100.0 + 2, cadence_spm=55.0, seed=3)
    counts = np.round(walk.samples[: per_device * N] / ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3))
    counts = counts.astype(np.int16)
    out = []
    for seq in range(per_device):
        for d in range(spec.devices):
            payload = _encode(
                counts[seq * N : (seq + 1) * N], d + 1, seq, t0_us + seq * N * PERIOD_US
            )
            if bad_every and (len(out) + 1) % bad_every == 0:
                payload = payload[:-1] + bytes([payload[-1] ^ 0xFF])  # a bad_crc
            out.append((f"gaitlink/v1/bench-{d:03d}/imu", payload))
    return out


class _Ingest:
    def __init__(self, stack: Stack, home: Path, database: str, devices: int) -> None:
        self.port = free_port()
        _provision(home, devices)
        self.service = services.ingest(
            stack, home, http_port=self.port, database=database, accept_unprovisioned=None
        )

    def start(self) -> None:
        self.service.start()

    def stop(self) -> None:
        self.service.stop()

    def metrics(self) -> dict:
        try:
            return services.ingest_metrics(self.port)
        except OSError as exc:
            raise RuntimeError(
                f"the ingest does not answer ({exc}), exit code {self.service.process.poll()}; "
                f"its log ends:\n{self.service.tail()}"
            ) from None

    def cpu_s(self) -> float:
        """User + system CPU of the ingest process so far (all its threads)."""
        fields = Path(f"/proc/{self.service.process.pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.service.process.pid}/status").read_text()
        return next(int(x.split()[1]) / 1024 for x in status.splitlines() if x.startswith("VmHWM"))


def _provision(home: Path, devices: int) -> None:
    """The bench devices in the ingest's registry, as a production ingest knows its devices
    (an unknown device costs a registry look-up per message). Imported without a date, so
    their backlog is not refused as older than their provisioning."""
    from gaitlink.cloud.registry.db import open_registry
    from gaitlink.cloud.registry.devices import DeviceStore

    home.mkdir(parents=True, exist_ok=True)
    listing = home / "bench-devices.json"
    listing.write_text(
        json.dumps({f"bench-{d:03d}": {"placement": "foot"} for d in range(devices)})
    )
    conn = open_registry(home / "registry.sqlite3")
    try:
        DeviceStore(conn).import_profiles(listing)
    finally:
        conn.close()


def _encode(counts: np.ndarray, boot_id: int, seq: int, t0_us: int) -> bytes:
    """A protocol v1 frame (docs/protocol.md §2.1), 100 Hz, six channels."""
    header = wire.HEADER.pack(
        wire.MAGIC, wire.VERSION, wire.FLAG_TIME_SYNCED, boot_id, seq, t0_us, PERIOD_US,
        len(counts), wire.CHANNELS_ACC | wire.CHANNELS_GYRO, 0, ACC_SCALE, GYRO_SCALE, 0, 0,
    )  # fmt: skip
    body = header + counts.astype("<i2").tobytes()
    return body + wire.CRC.pack(zlib.crc32(body))


class _Publisher:
    """QoS 1 publishes through the project's MQTT link; `wait` until the broker acked all."""

    def __init__(self, stack: Stack, client_id: str) -> None:
        # The operator's account: it may publish for devices that have no account.
        endpoint = stack.cloud_endpoint(stack.account("operator"))
        self.link = Link(endpoint, client_id, clean_session=True)
        self.link.start()
        self._lock = threading.Lock()
        self.sent = self.acked = 0

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent += 1
        self.link.publish(topic, payload, qos=1, on_acked=self._acked)

    def _acked(self) -> None:
        with self._lock:
            self.acked += 1

    def wait(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker acked {self.acked} of {self.sent} publishes")
            time.sleep(0.05)

    def close(self) -> None:
        self.link.stop()


def _publish(stack: Stack, messages: list[tuple[str, bytes]], client_id: str) -> None:
    pub = _Publisher(stack, client_id)
    try:
        for i, (topic, payload) in enumerate(messages):
            pub.publish(topic, payload)
            if i % 1000 == 999:
                pub.wait()  # bounded: never more than 1000 publishes waiting in paho
        pub.wait()
    finally:
        pub.close()


def gaitlink_rate(stack: Stack, home: Path, spec: Spec, bad_every: int | None, tag: str) -> dict:
    database = f"bench_{tag}"
    stack.create_database(database)
    ingest = _Ingest(stack, home / tag, database, spec.devices)
    ingest.start()  # once, to make its broker session; the backlog then waits there
    ingest.stop()
    t0_us = time.time_ns() // 1000 - 86_400_000_000
    messages = _frames(spec, t0_us, bad_every)
    _publish(stack, messages, f"bench-pub-{tag}")
    good = sum(1 for i in range(len(messages)) if not bad_every or (i + 1) % bad_every) * N
    ingest.start()
    spy = _profile(ingest, spec) if tag == "clean0" else None
    marks: list[tuple[float, int, float]] = []  # (time, samples written, CPU s)
    deadline = time.monotonic() + 600
    try:
        while True:
            written = ingest.metrics()["samples"]
            marks.append((time.monotonic(), written, ingest.cpu_s()))
            if written >= good or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if spy is not None:
            _stop(spy)
        metrics = ingest.metrics()
        if ingest.service.process.poll() is not None or metrics["samples"] < good:
            raise RuntimeError(
                f"{tag}: {metrics['samples']} of {good} samples written, ingest exit code "
                f"{ingest.service.process.poll()}; its log ends:\n{ingest.service.tail()}"
            )
        rss = ingest.peak_rss_mb()
    finally:
        ingest.stop()
    t10, n10, cpu10 = next(m for m in marks if m[1] >= good * 0.1)
    t90, n90, cpu90 = next(m for m in marks if m[1] >= good * 0.9)
    if t90 - t10 >= 1.0:
        rate = 0.8 * good / (t90 - t10)
        cpu_us = (cpu90 - cpu10) / (n90 - n10) * 1e6  # same window: no start-up in it
    else:  # a backlog too small to time between polls: all of it, start-up included
        started = max(t for t, n, _ in marks if n == 0) if marks[0][1] == 0 else marks[0][0]
        rate = good / max(marks[-1][0] - started, 0.1)
        cpu_us = (marks[-1][2] - marks[0][2]) / good * 1e6
    return {
        "samples_per_s": round(rate),
        "peak_rss_mb": round(rss, 1),
        "cpu_us_per_sample": round(cpu_us, 2),
        "dead_letters": metrics["dead_letters"],
        "frames": metrics["frames"],
    }


def _profile(ingest: _Ingest, spec: Spec):
    if spec.profile is None:
        return None
    import subprocess

    from gaitlink.tools.bench.gateway import _py_spy

    argv = [_py_spy(), "record", "-o", str(spec.profile), "--format", "raw",
            "--pid", str(ingest.service.process.pid), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(spy) -> None:
    import signal

    spy.send_signal(signal.SIGINT)
    spy.wait(60)


# -- latency -------------------------------------------------------------------------------
def latency(stack: Stack, home: Path, spec: Spec, samples_per_s: float) -> dict:
    database = "bench_latency"
    stack.create_database(database)
    ingest = _Ingest(stack, home / "latency", database, spec.devices)
    ingest.start()
    frames_per_s = samples_per_s / 2 / N
    total = int(frames_per_s * spec.latency_s)
    counts = np.zeros((N, 6), np.int16)
    published: dict[tuple[int, int], int] = {}  # (device, last sample µs) -> publish time µs
    seen: dict[int, int] = {}
    stop = threading.Event()
    latencies: list[float] = []

    def poll() -> None:
        query = "SELECT last(ax) FROM imu WHERE time > now() - 5m GROUP BY device"
        url = f"{stack.influx_url}/query?" + urllib.parse.urlencode(
            {"db": database, "q": query, "epoch": "u"}
        )
        request = urllib.request.Request(url, headers=auth_headers(stack.influx_settings()))
        while not stop.is_set():
            with urllib.request.urlopen(request, timeout=5) as resp:
                body = json.loads(resp.read())
            now_us = time.time_ns() // 1000
            for series in body["results"][0].get("series", []):
                device = int(series["tags"]["device"].rsplit("-", 1)[1])
                newest = series["values"][0][0]
                for (d, last), sent in list(published.items()):
                    if d == device and last <= newest:
                        latencies.append((now_us - sent) / 1000)
                        del published[(d, last)]
                seen[device] = newest
            stop.wait(spec.poll_s)

    poller = threading.Thread(target=poll, daemon=True)
    try:
        client = _Publisher(stack, "bench-live")
        try:
            poller.start()
            started = time.monotonic()
            seqs = [0] * spec.devices
            for k in range(total):
                due = started + k / frames_per_s
                time.sleep(max(0.0, due - time.monotonic()))
                d = k % spec.devices
                now_us = time.time_ns() // 1000
                payload = _encode(counts, d + 1, seqs[d], now_us)
                seqs[d] += 1
                published[(d, now_us + (N - 1) * PERIOD_US)] = now_us
                client.publish(f"gaitlink/v1/bench-{d:03d}/imu", payload)
            deadline = time.monotonic() + 30
            while published and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            client.close()
        stop.set()
        poller.join(10)
        rss = ingest.peak_rss_mb()
    finally:
        stop.set()
        ingest.stop()
    warm = latencies[len(latencies) // 10 :]
    return {
        "frames_per_s": round(frames_per_s, 1),
        "p50_ms": round(float(np.percentile(warm, 50)), 1),
        "p99_ms": round(float(np.percentile(warm, 99)), 1),
        "measured_frames": len(warm),
        "peak_rss_mb": round(rss, 1),
    }


def run(spec: Spec) -> dict:
    logging.getLogger("gaitlink.mqtt").setLevel(logging.ERROR)  # our own clients' chatter
    runs: dict[str, list] = {"raw_1": [], "raw_n": [], "clean": [], "bad": []}
    with tempfile.TemporaryDirectory(prefix="gaitlink-bench-ingest-") as tmp:
        home = Path(tmp)
        stack = Stack.on_free_ports(home / "stack")
        stack.up()
        try:
            t0_us = time.time_ns() // 1000 - 2 * 86_400_000_000
            bad_every = round(1 / spec.bad_fraction) if spec.bad_fraction else None
            # Interleaved, so a load that comes and goes on the machine hits every figure
            # alike; the figures are medians, the ratio the median of adjacent pairs.
            for r in range(spec.repeats):
                runs["raw_1"].append(raw_limit(stack, spec, 1, t0_us, f"1_{r}"))
                runs["raw_n"].append(raw_limit(stack, spec, spec.writers, t0_us, f"n_{r}"))
                runs["clean"].append(gaitlink_rate(stack, home, spec, None, f"clean{r}"))
                runs["bad"].append(gaitlink_rate(stack, home, spec, bad_every, f"bad{r}"))
            clean_rate = _median([c["samples_per_s"] for c in runs["clean"]])
            live = latency(stack, home, spec, clean_rate)
        finally:
            stack.down()
    clean = [c["samples_per_s"] for c in runs["clean"]]
    bad = [b["samples_per_s"] for b in runs["bad"]]
    from gaitlink.cloud.gait._compiled import KIND
    from gaitlink.tools.bench.speed import host

    return {
        "spec": {k: str(v) if isinstance(v, Path) else v for k, v in spec.__dict__.items()},
        "machine": host(),
        # The ingest process loads the same tree's kernels: "ahead-of-time" or "numba JIT".
        "gait_kernels": KIND,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "raw_points_per_s_1_writer": round(_median(runs["raw_1"])),
        f"raw_points_per_s_{spec.writers}_writers": round(_median(runs["raw_n"])),
        "gaitlink_samples_per_s": round(clean_rate),
        "gaitlink_bad_frames_samples_per_s": round(_median(bad)),
        "ratio_to_raw": round(
            _median([c / n for c, n in zip(clean, runs["raw_n"], strict=True)]), 2
        ),
        "bad_over_clean": round(_median([b / c for b, c in zip(bad, clean, strict=True)]), 2),
        "peak_rss_mb": max(x["peak_rss_mb"] for x in runs["clean"] + runs["bad"]),
        "ingest_cpu_us_per_sample": _median([c["cpu_us_per_sample"] for c in runs["clean"]]),
        "latency_at_half_load": live,
        "runs": {
            "raw_n": [round(x) for x in runs["raw_n"]],
            "clean": clean,
            "bad": bad,
            "dead_letters_per_bad_run": [b["dead_letters"] for b in runs["bad"]],
        },
    }


def _median(values: list[float]) -> float:
    return float(np.median(values))


def markdown(r: dict) -> str:
    s, live = r["spec"], r["latency_at_half_load"]
    w = s["writers"]
    rows = [
        ("raw line protocol into InfluxDB, 1 writer (points/s)", r["raw_points_per_s_1_writer"]),
        (f"  {w} writers (points/s)", r[f"raw_points_per_s_{w}_writers"]),
        ("gaitlink: backlog on the cloud broker -> InfluxDB, gait on (samples/s)",
         r["gaitlink_samples_per_s"]),
        (f"  ratio to the raw limit ({w} writers)", r["ratio_to_raw"]),
        (f"  with {s['bad_fraction']:.0%} bad frames (samples/s)",
         r["gaitlink_bad_frames_samples_per_s"]),
        ("  bad / clean", r["bad_over_clean"]),
        (f"latency broker -> InfluxDB at {live['frames_per_s']} frames/s (half load), p50 / p99"
         f" (ms, +-{s['poll_s'] * 1000:.0f})", f"{live['p50_ms']} / {live['p99_ms']}"),
        ("ingest CPU per sample, all threads, clean runs (µs)", r["ingest_cpu_us_per_sample"]),
        ("ingest peak RSS, backlog runs / live (MB)",
         f"{r['peak_rss_mb']} / {live['peak_rss_mb']}"),
    ]  # fmt: skip
    m = r["machine"]
    out = [
        f"{s['samples']} samples, {s['devices']} devices, {s['repeats']} repeats (medians), "
        f"gait kernels {r['gait_kernels']}",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['ram_gib']:.0f} GiB, Python {m['python']}, {m['os']}; load average "
        f"{r['load_average_1m']} at the end",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    runs = r["runs"]
    tail = [
        "",
        f"runs: raw {runs['raw_n']}, clean {runs['clean']}, bad {runs['bad']} (samples/s)",
    ]
    return "\n".join(out + [f"| {k} | {v} |" for k, v in rows] + tail)


def main(spec: Spec, as_json: bool) -> int:
    result = run(spec)
    print(json.dumps(result, indent=2) if as_json else markdown(result))
    return 0
