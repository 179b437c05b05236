"""`gaitlink bench research`: time and peak memory to pull one hour of one device's cycles.

It writes an hour of a synthetic walker (foot, 100 Hz) to a real InfluxDB the way the
ingest does (its own `imu_lines` and `GaitStage` on v1 frames, so `gait_cycle` carries
what the ingest writes), records a session, then pulls `get_cycles(subject, task)` in a
fresh process per repeat: wall and CPU time, the process's peak RSS above its state before the
pull (imports and numba warm-up excluded), and, in one more run, Python's traced peak
(tracemalloc, which slows the pull, so it is not timed).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECT, TASK, DEVICE = "BENCH_AB01", "level_walking", "bench-01"
RATE_HZ, FRAME = 100, 50
ACC_SCALE = 16 * 9.80665 / 32768
GYRO_SCALE = 2000 * 3.141592653589793 / 180 / 32768


def write_hour(settings, registry: Path, seconds: float) -> dict:
    """Walker samples + cycles of `seconds` into InfluxDB, as the ingest writes them."""
    import numpy as np

    from gaitlink.cloud.influx.sync import InfluxV1Sync
    from gaitlink.cloud.ingest.gait import GaitStage
    from gaitlink.cloud.ingest.points import imu_lines, imu_values
    from gaitlink.cloud.protocol.frame import Frame
    from gaitlink.cloud.registry.db import open_registry
    from gaitlink.cloud.registry.sessions import SessionStore
    from gaitlink.hardware.walker import synthesize

    client = InfluxV1Sync(settings)
    walk = synthesize("foot", RATE_HZ, seconds, cadence_spm=55.0, noise=0.05, seed=7)
    counts = np.round(walk.samples / ([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)
    t0 = (time.time_ns() // 1000) - int(seconds * 1e6) - 60_000_000
    period = 1_000_000 // RATE_HZ
    stage, lines, cycles = GaitStage(), [], 0
    started = time.perf_counter()
    for seq in range(len(counts) // FRAME):
        frame = Frame(
            version=1, flags=0, boot_id=1, seq=seq, t0_us=t0 + seq * FRAME * period,
            period_us=period, channels=3, acc_scale=ACC_SCALE, gyro_scale=GYRO_SCALE,
            quality=0, counts=counts[seq * FRAME : (seq + 1) * FRAME],
        )  # fmt: skip
        units, body = imu_values(frame.physical())
        lines += imu_lines(DEVICE, "foot", frame, units).split("\n")
        gait = stage.push(DEVICE, "foot", frame, body, gap=False)
        cycles += sum(line.startswith("gait_cycle") for line in gait)
        lines += gait
        if len(lines) >= 20_000:
            client.write("\n".join(lines))
            lines = []
    store = SessionStore(open_registry(registry))
    session = store.start(subject=SUBJECT, task=TASK, device=DEVICE, placement="foot",
                          side="left", start_us=t0)  # fmt: skip
    session = store.stop(session.id, end_us=t0 + len(counts) * period)
    lines.append(session.line())
    client.write("\n".join(lines))
    return {
        "samples": int(len(counts) // FRAME * FRAME),
        "cycles_written": cycles,
        "write_s": round(time.perf_counter() - started, 1),
    }


def pull_once(trace: bool) -> dict:
    """One pull in this process; settings from the environment (never argv)."""
    import threading
    import tracemalloc

    from gaitlink.cloud.gait import warmup
    from gaitlink.research import connect

    warmup()
    research = connect(
        os.environ["GAITLINK_INFLUX_URL"], os.environ["GAITLINK_INFLUX_DB"],
        username=os.environ.get("GAITLINK_INFLUX_USER") or None,
        password=os.environ.get("GAITLINK_INFLUX_PASSWORD") or None,
        token=os.environ.get("GAITLINK_INFLUX_TOKEN") or None, progress=False,
    )  # fmt: skip
    research.sessions(subject=SUBJECT)  # connection and pandas warm, as in a notebook
    # ru_maxrss is the process's high-water mark, which numba's compiler set long before
    # the pull: sample the current RSS instead, every 5 ms, while the pull runs.
    before = _rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    if trace:
        tracemalloc.start()
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    data, _names = research.get_cycles(SUBJECT, TASK)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _rss_mb())
    out = {
        "seconds": seconds,
        "cpu_s": cpu_s,
        "cycles": int(data.shape[0]),
        "rss_growth_mb": peak[0] - before,
        "rss_peak_mb": peak[0],
        "result_mb": data.nbytes / 2**20,
        "queries": research.queries,
    }
    if trace:
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return out


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(settings, trace: bool) -> dict:
    env = {**os.environ, "GAITLINK_INFLUX_URL": settings.url,
           "GAITLINK_INFLUX_DB": settings.database,
           "GAITLINK_INFLUX_USER": settings.username or "",
           "GAITLINK_INFLUX_PASSWORD": settings.password or "",
           "GAITLINK_INFLUX_TOKEN": settings.token or ""}  # fmt: skip
    code = (
        "import json; from gaitlink.tools.bench.research import pull_once; "
        f"print(json.dumps(pull_once({trace})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"the pull failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(seconds: float = 3600.0, repeats: int = 3) -> dict:
    from gaitlink.tools.stack import Stack

    with tempfile.TemporaryDirectory(prefix="gaitlink-bench-research-") as tmp:
        stack = Stack.on_free_ports(Path(tmp) / "stack")
        stack.up()
        try:
            settings = stack.influx_settings()
            written = write_hour(settings, Path(tmp) / "registry.sqlite3", seconds)
            runs = [_child(settings, trace=False) for _ in range(repeats)]
            traced = _child(settings, trace=True)
        finally:
            stack.down()
    return {
        "data_s": seconds,
        **written,
        "repeats": repeats,
        "cycles": runs[0]["cycles"],
        "queries": runs[0]["queries"],
        "pull_s_median": statistics.median(r["seconds"] for r in runs),
        "pull_s_all": [round(r["seconds"], 2) for r in runs],
        "client_cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
        "load_average": os.getloadavg()[0],
        "rss_growth_mb_median": statistics.median(r["rss_growth_mb"] for r in runs),
        "rss_peak_mb_median": statistics.median(r["rss_peak_mb"] for r in runs),
        "traced_peak_mb": traced["traced_peak_mb"],
        "result_mb": runs[0]["result_mb"],
    }


def to_markdown(r: dict) -> str:
    return (
        f"Pull one device's cycles ({r['data_s'] / 3600:g} h at {RATE_HZ} Hz: {r['samples']} "
        f"samples, {r['cycles']} valid cycles of {r['cycles_written']}; "
        f"{r['queries']} queries, 10-min chunks)\n\n"
        "| figure | value |\n|---|---|\n"
        f"| wall time, median of {r['repeats']} | {r['pull_s_median']:.2f} s "
        f"({', '.join(str(x) for x in r['pull_s_all'])}) |\n"
        f"| CPU time of the pulling process, median (InfluxDB's own not included) | "
        f"{r['client_cpu_s_median']:.2f} s |\n"
        f"| peak RSS above the RSS before the pull, median | "
        f"{r['rss_growth_mb_median']:.0f} MB |\n"
        f"| peak RSS of the process during the pull (imports included), median | "
        f"{r['rss_peak_mb_median']:.0f} MB |\n"
        f"| Python-traced peak during the pull (tracemalloc) | {r['traced_peak_mb']:.0f} MB |\n"
        f"| the result array | {r['result_mb']:.1f} MB |\n"
        f"| writing the data (ingest's line code + InfluxDB) | {r['write_s']} s |\n"
        f"| load average (1 min) at the end | {r['load_average']:.1f} |\n"
    )
