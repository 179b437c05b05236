"""`gaitlink bench gateway`: the relay with its durable spool, against direct MQTT.

In one run, on this machine, with real mosquitto brokers in a temp dir:
1. baseline: frames published to one mosquitto and counted by a subscriber of it;
2. sustained: a burst published to the site broker, counted at the cloud broker after the
   gateway (a `gaitlink gateway run` process pinned to one CPU, spool on); the rate is
   taken between the 10th and the 90th percentile of arrivals, so the site broker's queue
   is never empty and the gateway runs flat out;
   and, as a floor, paho alone relaying the same burst (ack, publish, PUBACK, no spool) in
   a process pinned to the same CPU: what any paho-based relay costs before its own work;
3. latency: the live rate (`devices` x `frames/s`), through both paths; added = gateway
   path minus direct path, p50 and p99;
4. drain: the cloud broker stops for `outage_s` while live data flows into the spool; then
   it starts again, and the drain rate is what the spool delivers until it is back to live.
Steps 2-4 run twice, with frame batches to the cloud (docs/protocol.md §2.5; the default)
and without (`--batch-frames 1`), the two alternating run by run so that both see the same
load on this shared machine.
Peak RSS is the gateway's VmHWM (the highest of its runs); CPU is its user+system time per
frame.

Every client logs in as in a deployment, with the stack's accounts (tools/stack/accounts.py)
made in the temp dir: the site broker is the one `gaitlink gateway install` configures
(accounts, site ACL, no TLS on the LAN), the cloud broker the stack's (accounts, cloud ACL,
TLS only, verified with the stack's CA). Each load device publishes over a connection of its
own device account; the site-side counter reads as the site's gateway account, the
cloud-side one as the ingest account, over TLS; the gateway and the paho floor log in with
the gateway's site and cloud accounts. No password is in an argv, a URL or a log line.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gaitlink.gateway import install
from gaitlink.tools.bench import mqtt_load
from gaitlink.tools.bench.speed import host
from gaitlink.tools.services import gateway_login
from gaitlink.tools.stack import accounts, components, find_binary, free_port, tls
from gaitlink.tools.stack.mosquitto import is_healthy

# How the brokers run (a deployment's settings, see Broker); printed with the figures.
SECURITY = "site broker: accounts + site ACL; cloud broker: accounts + cloud ACL + TLS"
# Issue 10's targets, printed with the figures.
TARGET_FRAMES_PER_S = 15_000
TARGET_P99_ADDED_MS = 50.0
TARGET_DRAIN_OVER_LIVE = 10.0
TARGET_RSS_MB = 100.0


def _machine() -> dict:
    import paho.mqtt

    version = subprocess.run(
        [str(find_binary("mosquitto")), "-h"], capture_output=True, text=True
    ).stdout.splitlines()
    return {
        **host(),
        "paho_mqtt": paho.mqtt.__version__,
        "mosquitto": version[0].strip() if version else "unknown",
        "load_average_1m_at_start": round(os.getloadavg()[0], 1),
    }


@dataclass(frozen=True)
class Spec:
    devices: int = 50
    frames_per_device_s: float = 2.0  # 100 Hz in frames of 50 samples
    burst: int = 60_000
    frame_bytes: int = 644
    live_s: float = 5.0
    outage_s: float = 20.0
    cpu: int | None = None  # the gateway's CPU; default the last one
    profile: Path | None = None  # py-spy record output of the first gateway burst
    batch_frames: int = 50  # the gateway's default (spool.batch_frames); 1 = no batches
    repeats: int = 3  # bursts and live runs per path; figures are medians


def bench_device_ids(devices: int) -> list[str]:
    return [f"bench-{d:03d}" for d in range(devices)]


class Broker:
    """A mosquitto configured as a deployment's, its accounts those of the stack state dir
    `state` (the bench's temp dir), which must hold every device's account before.

    Site: as `gaitlink gateway install` writes it for the Pi (accounts, the site ACL, no TLS
    on the LAN), its counter reading as the site's gateway account. Cloud: as the stack
    runs it (tools/stack/components.py: accounts, the cloud ACL, TLS only, sessions bound to
    accounts), its counter reading as the ingest over TLS verified with the stack's CA.
    """

    def __init__(self, state: Path, site: bool) -> None:
        self.port = free_port()
        binary = find_binary("mosquitto")
        if site:
            self.home = state / "site"
            self.argv = [str(binary), "-c", str(self._install_site(state))]
            # The load's devices: every device account of the state dir, made before.
            self.devices = [accounts.add_device(state, d) for d in accounts.device_ids(state)]
            self.gateway = accounts.role_account(state, "site_gateway")
            self.reader = self.gateway  # reads the uplink as the site's gateway does
            self.ca: Path | None = None
            self.tls: ssl.SSLContext | None = None
            self.filters: tuple[str, ...] = ("gaitlink/v1/+/imu",)  # no batches on the site
        else:
            cloud = next(c for c in components.COMPONENTS if c.name == components.CLOUD_BROKER)
            self.home = state / cloud.name  # prepare() takes the state dir as home's parent
            self.home.mkdir()
            ports = {cloud.name: self.port}
            self.argv = cloud.prepare(binary, self.home, "127.0.0.1", ports).argv
            self.gateway = accounts.role_account(state, "cloud_gateway")
            self.reader = accounts.role_account(state, "ingest")  # the data's only reader
            self.ca = tls.ca_path(state)
            self.tls = ssl.create_default_context(cafile=str(self.ca))
            self.filters = mqtt_load.Counter.FILTERS
        self.proc: subprocess.Popen | None = None

    def _install_site(self, state: Path) -> Path:
        # The installed config names its password file and ACL under the system root: a
        # root of its own here, holding the stack's site files.
        root = self.home / "root"
        etc = (root / install.PASSWD_PATH).parent
        etc.mkdir(parents=True)
        passwd, acl = accounts.write_broker_files(state, accounts.SITE, etc)
        passwd.rename(root / install.PASSWD_PATH)
        acl.rename(root / install.ACL_PATH)
        plan = install.InstallPlan(
            Path("x"), site_port=self.port, site_listen="127.0.0.1", system_root=root
        )
        extra = [f"persistence_location {self.home}/", f"log_dest file {self.home}/log"]
        if os.geteuid() == 0:
            extra.append("user root")
        conf = self.home / "mosquitto.conf"
        conf.write_text(install.render_mosquitto(plan) + "\n".join(extra) + "\n")
        return conf

    def counter(self, tag: str, keep_latencies: bool = True) -> mqtt_load.Counter:
        return mqtt_load.Counter(
            self.port, f"count-{tag}", keep_latencies,
            login=self.reader, tls=self.tls, filters=self.filters,
        )  # fmt: skip

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # Anonymous: refused, but a CONNACK (over TLS, verified, for the cloud one).
            if is_healthy("127.0.0.1", self.port, ca_file=self.ca):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


class GatewayProcess:
    def __init__(self, home: Path, site: Broker, cloud: Broker, cpu: int, batch_frames: int):
        self.http = free_port()
        home.mkdir(exist_ok=True)
        self.log = home / "gateway.log"
        # One id for every run: each resumes the site session the previous one left (empty,
        # since every run ends with all its frames counted at the cloud).
        argv = [
            sys.executable, "-m", "gaitlink.tools.cli", "gateway", "run",
            "--site", f"127.0.0.1:{site.port}", "--cloud", f"mqtts://127.0.0.1:{cloud.port}",
            "--id", "bench", "--spool-dir", str(home / "spool"),
            "--http", f"127.0.0.1:{self.http}", "--stats-every", "3600",
            "--batch-frames", str(batch_frames),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAITLINK_GATEWAY_")}
        # As the stack starts it (tools/services.py): usernames and password files in the
        # environment, the cloud broker verified with the stack's CA.
        env |= gateway_login("site", site.gateway)
        env |= gateway_login("cloud", cloud.gateway)
        env["GAITLINK_GATEWAY_CLOUD__CA_FILE"] = str(cloud.ca)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(cpu), *argv] if _has("taskset") else argv,
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while "gateway ready" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _py_spy() -> str:
    from shutil import which

    beside = Path(sys.executable).parent / "py-spy"  # the dev extra installs it in the venv
    found = str(beside) if beside.exists() else which("py-spy")
    if found is None:
        raise RuntimeError("py-spy not found: pip install py-spy (it is in the dev extra)")
    return found


def _has(tool: str) -> bool:
    from shutil import which

    return which(tool) is not None


def _publish_in_child(site: Broker, spec: Spec, count: int, rate: float | None, tag: str):
    # A process of its own: the load must not share the counter's GIL. Forked: the device
    # accounts go in memory (each password read from its file at connect), not in argv.
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(
        target=mqtt_load.publish,
        args=(site.port, site.devices, count),
        kwargs={"rate": rate, "frame_bytes": spec.frame_bytes, "client_id": f"bench-{tag}"},
    )
    proc.start()
    return proc


def _rate(marks: list[float]) -> float:
    """Frames/s between the 10th and the 90th percentile of arrivals (marks every 1000)."""
    if len(marks) < 5:
        return float("nan")
    lo, hi = len(marks) // 10, len(marks) * 9 // 10
    return (hi - lo) * 1000 / (marks[hi] - marks[lo])


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _latency(runs: list[list[float]]) -> dict[str, float]:
    """Median over runs of each run's p50 and p99."""
    return {
        q: _r(_median([_pct(run, p) for run in runs])) for q, p in (("p50", 0.5), ("p99", 0.99))
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _burst(site: Broker, counted: Broker, spec: Spec, tag: str, profile=None) -> float:
    counter = counted.counter(tag, keep_latencies=False)
    pub = _publish_in_child(site, spec, spec.burst, None, tag)
    spy = None
    if profile is not None:
        spy = subprocess.Popen(profile, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = counter.wait_for(spec.burst, 300)
    pub.join(60)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    counter.close()
    if not ok:
        raise RuntimeError(f"{tag}: {counter.arrivals.count} of {spec.burst} frames arrived")
    return _rate(counter.arrivals.marks)


def _paho_relay(site: Broker, cloud: Broker, count: int, cpu: int, results) -> None:
    """Child process: paho alone relaying site -> cloud (ack, publish, PUBACK; no spool),
    pinned like the gateway. Puts "ready", then its CPU seconds once `count` were acked."""
    import resource
    import threading

    from gaitlink.mqtt.endpoint import Endpoint
    from gaitlink.mqtt.link import Link

    os.sched_setaffinity(0, {cpu})
    logging.getLogger("gaitlink.mqtt").setLevel(logging.ERROR)  # no "disconnected" at the end
    done = threading.Event()
    acked = [0]

    def on_acked() -> None:
        acked[0] += 1
        if acked[0] >= count:
            done.set()

    def on_message(message) -> None:
        site.ack(message)
        cloud.publish(message.topic, message.payload, qos=1, on_acked=on_acked)

    # The gateway's accounts, the cloud over TLS, as the gateway logs in. Clean sessions:
    # nothing stays queued for it on the brokers after it has gone.
    to_cloud = Endpoint("127.0.0.1", cloud.port).with_ca(cloud.ca)
    to_cloud = to_cloud.with_login(cloud.gateway.username, cloud.gateway.password)
    to_site = Endpoint("127.0.0.1", site.port)
    to_site = to_site.with_login(site.gateway.username, site.gateway.password)
    cloud = Link(to_cloud, "bench-paho-cloud", clean_session=True, max_inflight=0)
    site = Link(
        to_site, "bench-paho-site", clean_session=True,
        subscriptions=("gaitlink/v1/+/imu",), on_message=on_message,
    )  # fmt: skip
    cloud.start()
    site.start()
    before = resource.getrusage(resource.RUSAGE_SELF)
    results.put("ready")
    done.wait(300)
    after = resource.getrusage(resource.RUSAGE_SELF)
    results.put(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    site.stop()
    cloud.stop()


def _paho_floor(site: Broker, cloud: Broker, spec: Spec, cpu: int) -> tuple[float, float]:
    """Frames/s and CPU µs a frame of paho alone, the floor under any paho-based relay."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_paho_relay, args=(site, cloud, spec.burst, cpu, results))
    child.start()
    try:
        if results.get(timeout=30) != "ready":
            raise RuntimeError("the paho-only relay did not start")
        rate = _burst(site, cloud, spec, "paho-only")
        cpu_s = results.get(timeout=60)
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    return rate, cpu_s / spec.burst * 1e6


def _live(site: Broker, counted: Broker, spec: Spec, tag: str) -> list[float]:
    live_rate = spec.devices * spec.frames_per_device_s
    count = int(live_rate * spec.live_s)
    counter = counted.counter(tag)
    pub = _publish_in_child(site, spec, count, live_rate, tag)
    pub.join(spec.live_s + 60)
    counter.wait_for(count, 30)
    counter.close()
    return counter.arrivals.latencies_ms[len(counter.arrivals.latencies_ms) // 10 :]  # warm


def run(spec: Spec) -> dict:
    cpu = spec.cpu if spec.cpu is not None else os.cpu_count() - 1
    machine = _machine()
    # The harness (brokers, publishers, counters: this process and its children) keeps off
    # the gateway's CPU, so that the gateway has "one core" to itself but for other work.
    affinity = os.sched_getaffinity(0)
    harness = affinity - {cpu}
    if harness:
        os.sched_setaffinity(0, harness)
    try:
        return _run(spec, cpu, machine)
    finally:
        os.sched_setaffinity(0, affinity)


MODES = ("batched", "unbatched")


def _run(spec: Spec, cpu: int, machine: dict) -> dict:
    live_rate = spec.devices * spec.frames_per_device_s
    batch_frames = {"batched": spec.batch_frames, "unbatched": 1}
    with tempfile.TemporaryDirectory(prefix="gaitlink-bench-gw-") as tmp:
        home = Path(tmp)  # also the stack state dir of the accounts and the CA
        for device in bench_device_ids(spec.devices):
            accounts.add_device(home, device)
        site, cloud = Broker(home, site=True), Broker(home, site=False)
        site.start()
        cloud.start()
        try:
            direct_rates, direct_lat = [], []
            for i in range(spec.repeats):
                direct_rates.append(_burst(site, site, spec, f"direct-{i}"))
                direct_lat.append(_live(site, site, spec, f"direct-live-{i}"))

            paho_rate, paho_cpu_us = _paho_floor(site, cloud, spec, cpu)

            runs: dict[str, dict[str, list]] = {
                m: {"rates": [], "lat": [], "cpu_us": [], "rss": []} for m in MODES
            }
            for i in range(spec.repeats):
                for mode in MODES:
                    gateway = GatewayProcess(home / mode, site, cloud, cpu, batch_frames[mode])
                    try:
                        profile = None
                        if spec.profile is not None and i == 0:
                            out = spec.profile.with_name(f"{spec.profile.stem}-{mode}.txt")
                            profile = [_py_spy(), "record", "-o", str(out), "--format", "raw",
                                       "--pid", str(gateway.proc.pid), "--nonblocking"]  # fmt: skip
                        run = runs[mode]
                        cpu0 = gateway.cpu_s()
                        run["rates"].append(_burst(site, cloud, spec, f"{mode}-{i}", profile))
                        run["cpu_us"].append((gateway.cpu_s() - cpu0) / spec.burst * 1e6)
                        run["lat"].append(_live(site, cloud, spec, f"{mode}-live-{i}"))
                        run["rss"].append(gateway.peak_rss_mb())
                    finally:
                        gateway.stop()
            drains = {}
            for mode in MODES:
                gateway = GatewayProcess(home / mode, site, cloud, cpu, batch_frames[mode])
                try:
                    drains[mode] = _drain(site, cloud, gateway, spec, live_rate)
                    m = gateway.metrics()
                    commits = m.get("gaitlink_gateway_spool_commits_total", 0)
                    commit_s = m.get("gaitlink_gateway_spool_commit_seconds_total", 0)
                    drains[mode]["fsync_ms_mean"] = (
                        _r(1000 * commit_s / commits) if commits else None
                    )
                    drains[mode]["drain_batches"] = int(
                        m.get("gaitlink_gateway_uplink_batches_total", 0)
                    )
                    runs[mode]["rss"].append(gateway.peak_rss_mb())
                finally:
                    gateway.stop()
        finally:
            site.stop()
            cloud.stop()
    direct_rate = _median(direct_rates)
    samples = (spec.frame_bytes - 44) // 12  # v1 frame: 44 bytes + 12 per 6-axis sample
    result = {
        "spec": {k: str(v) if isinstance(v, Path) else v for k, v in spec.__dict__.items()},
        "machine": {**machine, "load_average_1m_at_end": round(os.getloadavg()[0], 1)},
        "brokers": SECURITY,
        "gateway_cpu": cpu,
        "harness_cpus": sorted(os.sched_getaffinity(0)),
        "direct_frames_per_s": round(direct_rate),
        "direct_frames_per_s_runs": [round(r) for r in direct_rates],
        "direct_latency_ms": _latency(direct_lat),
        "paho_only_frames_per_s": round(paho_rate),
        "paho_only_cpu_us_per_frame": round(paho_cpu_us, 1),
        "live_frames_per_s": live_rate,
        "repeats": spec.repeats,
    }
    for mode in MODES:
        run = runs[mode]
        rate, cpu_per_frame_us = _median(run["rates"]), _median(run["cpu_us"])
        result[mode] = {
            "batch_frames": batch_frames[mode],
            "frames_per_s": round(rate),
            "frames_per_s_runs": [round(r) for r in run["rates"]],
            "samples_per_s": round(rate * samples),
            "over_direct": round(rate / direct_rate, 3),
            "cpu_us_per_frame": round(cpu_per_frame_us, 1),
            # What one core of its own would carry at that CPU per frame: the load-independent
            # figure (the rate above depends on what else runs on the pinned CPU).
            "frames_per_core_s": round(1e6 / cpu_per_frame_us),
            "latency_ms": _latency(run["lat"]),
            "added_latency_ms": _added(run["lat"], direct_lat),
            **drains[mode],
            "peak_rss_mb": round(max(run["rss"]), 1),
        }
    b, u = result["batched"], result["unbatched"]
    result["batched_over_unbatched"] = {
        "frames_per_s": round(b["frames_per_s"] / u["frames_per_s"], 2),
        "cpu_us_per_frame": round(b["cpu_us_per_frame"] / u["cpu_us_per_frame"], 2),
    }
    return result


def _drain(site: Broker, cloud: Broker, gateway: GatewayProcess, spec: Spec, live: float):
    """Live data flows throughout; during the outage a burst adds the backlog of a longer
    one (a compressed outage), so the drain is long enough to time."""
    count = int(live * (spec.outage_s + 120))
    pub = _publish_in_child(site, spec, count, live, "drain-live")
    time.sleep(1.0)
    cloud.stop()
    backfill = _publish_in_child(site, spec, spec.burst, None, "drain-backlog")
    backfill.join(300)
    deadline = time.monotonic() + spec.outage_s
    while gateway.metrics()["gaitlink_gateway_uplink_received_total"] < spec.burst:
        if time.monotonic() > deadline + 120:
            raise RuntimeError("the backlog did not reach the spool")
        time.sleep(0.1)
    time.sleep(max(0.0, deadline - time.monotonic()))
    metrics = gateway.metrics()
    backlog = metrics["gaitlink_gateway_spool_messages"]
    delivered0 = metrics["gaitlink_gateway_uplink_delivered_total"]
    cloud.start()
    # From the first delivery after the reconnect (paho's reconnect back-off is not the
    # drain) until the spool holds no more than a second of live data again.
    while (delivered := gateway.metrics()["gaitlink_gateway_uplink_delivered_total"]) == delivered0:
        time.sleep(0.01)
    t0, first = time.monotonic(), delivered
    while gateway.metrics()["gaitlink_gateway_spool_messages"] > live:
        if time.monotonic() - t0 > 300:
            raise RuntimeError("the spool did not drain within 300 s")
        time.sleep(0.02)
    took = time.monotonic() - t0
    drained = gateway.metrics()["gaitlink_gateway_uplink_delivered_total"] - first
    pub.terminate()
    pub.join(10)
    rate = drained / took
    return {
        "drain_backlog_frames": int(backlog),
        "drain_seconds": _r(took),
        "drain_frames_per_s": round(rate),
        "drain_over_live": round(rate / live, 1),
    }


def _added(gateway: list[list[float]], direct: list[list[float]]) -> dict[str, float]:
    """Median over runs of (gateway run's percentile - direct run's percentile)."""
    return {
        q: _r(_median([_pct(g, p) - _pct(d, p) for g, d in zip(gateway, direct, strict=True)]))
        for q, p in (("p50", 0.5), ("p99", 0.99))
    }


def _r(x: float) -> float:
    return round(x, 2)


def markdown(result: dict) -> str:
    m = result["machine"]
    b, u = result["batched"], result["unbatched"]
    lat_d, ratio = result["direct_latency_ms"], result["batched_over_unbatched"]

    def both(key, fmt=str) -> tuple[str, str]:
        return fmt(b[key]), fmt(u[key])

    def lat(d: dict) -> str:
        return f"{d['p50']} / {d['p99']}"

    rows = [
        (f"sustained frames/s through the gateway (spool on), median of {result['repeats']}",
         f"**{b['frames_per_s']}** (runs {b['frames_per_s_runs']}); "
         f"{b['frames_per_s'] / TARGET_FRAMES_PER_S:.2f}x the target {TARGET_FRAMES_PER_S}",
         f"{u['frames_per_s']} (runs {u['frames_per_s_runs']}); "
         f"{u['frames_per_s'] / TARGET_FRAMES_PER_S:.2f}x"),
        ("  samples/s", *both("samples_per_s")),
        ("  gateway / direct", *both("over_direct")),
        ("gateway CPU per frame (us)", *both("cpu_us_per_frame")),
        ("  frames/s one core of its own would carry (1e6 / CPU per frame)",
         *both("frames_per_core_s")),
        (f"latency at {result['live_frames_per_s']:.0f} frames/s through the gateway, "
         "p50 / p99 (ms)", lat(b["latency_ms"]), lat(u["latency_ms"])),
        (f"  added by the gateway p50 / p99 (ms), target p99 < {TARGET_P99_ADDED_MS:g}",
         lat(b["added_latency_ms"]), lat(u["added_latency_ms"])),
        ("drain after the outage: backlog frames, frames/s",
         f"{b['drain_backlog_frames']}, {b['drain_frames_per_s']}",
         f"{u['drain_backlog_frames']}, {u['drain_frames_per_s']}"),
        (f"  drain / live, target >= {TARGET_DRAIN_OVER_LIVE:g}", *both("drain_over_live")),
        ("  batch messages in the drain run", *both("drain_batches")),
        ("spool commit (fsync) mean ms", *both("fsync_ms_mean")),
        (f"gateway peak RSS (MB), target < {TARGET_RSS_MB:g}", *both("peak_rss_mb")),
    ]  # fmt: skip
    out = [
        f"Machine: {m['cpu']}, {m['cores']} logical CPUs ({m['usable_cores']} usable), "
        f"{m['ram_gib']:.1f} GiB, {m['os']}, Python {m['python']}, paho-mqtt {m['paho_mqtt']}, "
        f"{m['mosquitto']}; gateway pinned to CPU {result['gateway_cpu']}, brokers and load "
        f"on CPUs {result['harness_cpus']}; load average "
        f"{m['load_average_1m_at_start']} at start, {m['load_average_1m_at_end']} at end. "
        f"Every client logs in ({result['brokers']}).",
        "",
        f"Baselines, same run: direct publish -> subscribe through one mosquitto "
        f"{result['direct_frames_per_s']} frames/s (median of {result['repeats']}, runs "
        f"{result['direct_frames_per_s_runs']}), latency p50 / p99 {lat(lat_d)} ms; paho alone "
        f"relaying (ack + publish + PUBACK, no spool) {result['paho_only_frames_per_s']} "
        f"frames/s at {result['paho_only_cpu_us_per_frame']} us CPU per frame.",
        f"Batched / unbatched: sustained rate {ratio['frames_per_s']}, CPU per frame "
        f"{ratio['cpu_us_per_frame']}.",
        "",
        f"| measure | batches of <= {b['batch_frames']} frames"
        f"{' (default)' if b['batch_frames'] == Spec.batch_frames else ''} | no batches |",
        "|---|---|---|",
    ]
    out += [f"| {k} | {v1} | {v2} |" for k, v1, v2 in rows]
    return "\n".join(out)


def main(spec: Spec, as_json: bool) -> int:
    result = run(spec)
    print(json.dumps(result, indent=2) if as_json else markdown(result))
    return 0
