"""`gaitlink bench gait-speed`: throughput, memory and JIT time of the gait segmentation.

One run measures, on one hour of 100 Hz synthetic walking (hardware/walker.py, foot and
lower back): `segment`, the plain numpy/scipy reference, `GaitStream` fed 50-sample
blocks, memory per stream, the first-call time with a cold and a warm numba cache, and,
with ``--with-peers``, gaitmap and mobgap on the same data. Per-core numbers come from
subprocesses pinned to one CPU with NUMBA_NUM_THREADS=1; every time is a median.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RATE_HZ = 100.0
HOUR_S = 3600.0
QUICK_S = 60.0
PLACEMENTS = ("foot", "lower_back")
TARGETS = {
    "segment_sps": 10e6,  # samples/s per core
    "vs_reference": 50.0,
    "stream_sps": 1e6,
    "stream_bytes": 64 * 1024,
}
# Peer -> what pip installs for it. BarthDtw and RamppEventDetection live in gaitmap_mad
# (AGPL-3, same version as gaitmap): only ever installed into the throwaway peers' venv.
PEER_INSTALL = {"gaitmap": ("gaitmap", "gaitmap_mad"), "mobgap": ("mobgap",)}
PEER_PACKAGES = tuple(PEER_INSTALL)
REPO = Path(__file__).resolve().parents[2]
_SINGLE_THREAD = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def machine() -> dict[str, Any]:
    import numba
    import numpy as np

    return {**host(), "numpy": np.__version__, "numba": numba.__version__}


def host() -> dict[str, Any]:
    """The machine without the numeric stack (benchmarks of the gateway need none)."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": mem_kb / 2**20,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def _make_data(data_dir: Path, duration_s: float) -> None:
    import numpy as np

    from gaitlink.hardware.walker import synthesize

    for seed, placement in enumerate(PLACEMENTS):
        walk = synthesize(
            placement, RATE_HZ, duration_s, noise=0.05, drift=1.0, stride_variability=0.03,
            seed=seed,
        )  # fmt: skip
        np.save(data_dir / f"{placement}_samples.npy", walk.samples)
        np.save(data_dir / f"{placement}_ic.npy", walk.initial_contacts)


def _pinned_cpu() -> int:
    # The highest CPU we may use: on a 2-core box CPU 0 takes most interrupts.
    return max(os.sched_getaffinity(0))


def _run_json(cmd: list[str], env_extra: dict[str, str], timeout: float) -> dict:
    env = dict(os.environ, **_SINGLE_THREAD, **env_extra)
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pinned(spec: dict, env_extra: dict[str, str] | None = None) -> dict:
    return _run_json(
        [sys.executable, "-m", "gaitlink.tools.bench._pinned", json.dumps(spec)],
        env_extra or {},
        3600,
    )


def _peer_python(venv: Path, log: Path) -> tuple[Path | None, dict[str, str]]:
    """Create the peers' venv and pip install them; per package 'installed' or why not."""
    python = venv / "bin" / "python"
    status = {}
    venv.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], stdout=out, stderr=out, check=False
            )
        if not python.exists():
            return None, dict.fromkeys(PEER_PACKAGES, f"not installed (venv failed, see {log})")
        # One resolver run, so both get versions that fit together (gaitmap pins numpy);
        # only if that fails, each on its own.
        for group in (PEER_PACKAGES, *((p,) for p in PEER_PACKAGES)):
            if all(status.get(p) == "installed" for p in group):
                continue
            requirements = [r for p in group for r in PEER_INSTALL[p]]
            proc = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    *requirements,
                ],
                stdout=out,
                stderr=out,
                timeout=1800,
                check=False,
            )
            for package in group:
                if proc.returncode == 0:
                    status[package] = "installed"
                else:
                    status.setdefault(package, f"not installed (pip failed, see {log})")
    return python, status


def _peers(
    data_dir: Path, cpu: int, repeats: int, venv: Path | None, truth: dict[str, Any]
) -> dict[str, dict]:
    from gaitlink.tools.bench.events import score_events

    venv = venv or Path(tempfile.mkdtemp(prefix="gaitlink-peers-"))
    log = venv.parent / f"{venv.name}-install.log"
    python, status = _peer_python(venv, log)
    ready = [p for p in PEER_PACKAGES if status.get(p) == "installed"]
    out: dict[str, dict] = {p: {"status": status[p]} for p in PEER_PACKAGES}
    if python is None or not ready:
        return out
    spec = {"data_dir": str(data_dir), "rate_hz": RATE_HZ, "cpu": cpu, "repeats": repeats,
            "peers": ready}  # fmt: skip
    script = Path(__file__).with_name("_peers.py")
    results = _run_json([str(python), str(script), json.dumps(spec)], {}, 7200)
    for name, res in results.items():
        res["status"] = "installed"
        if "ic_s" in res:
            ics = res.pop("ic_s")
            ref = truth[res["placement"]]
            ref = ref[ref < res["samples"] / RATE_HZ]
            score = score_events(ics, ref, 0.05)
            res["ic"] = {"f1": score.f1, "bias_ms": score.bias_ms}
        out[name] = res
    return out


class BaselineError(ValueError):
    """The --baseline revision cannot be had (not a commit here, or without cloud/gait)."""


def export_baseline(rev: str, dest: Path) -> str:
    """``cloud/gait`` as of git revision ``rev`` of this checkout, written to
    ``dest/gait_baseline`` (an importable package: the kernels import each other
    relatively); returns the commit. BaselineError naming the revision when git does not
    know it, or when this is not a git checkout."""
    import io
    import tarfile

    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    sha = found.stdout.strip()
    if found.returncode != 0 or not sha:
        raise BaselineError(f"--baseline {rev!r} is not a commit of the checkout {REPO}")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", sha, "cloud/gait"],
        capture_output=True,
    )
    if archive.returncode != 0:
        raise BaselineError(f"--baseline {rev!r}: commit {sha[:10]} has no cloud/gait")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest / "src", filter="data")
    (dest / "src" / "cloud" / "gait").rename(dest / "gait_baseline")
    return sha


def run(
    quick: bool = False,
    repeats: int | None = None,
    with_peers: bool = False,
    peer_venv: Path | None = None,
    baseline: str | None = None,
) -> dict[str, Any]:
    """``baseline``: a git revision whose cloud/gait is timed too, in turns with ours."""
    import numpy as np

    repeats = repeats or (2 if quick else 7)
    duration = QUICK_S if quick else HOUR_S
    cpu = _pinned_cpu()
    with tempfile.TemporaryDirectory(prefix="gaitlink-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        _make_data(data_dir, duration)
        spec = {"data_dir": str(data_dir), "rate_hz": RATE_HZ, "cpu": cpu}
        throughput = dict(spec, mode="throughput", repeats=repeats, placements=list(PLACEMENTS))
        if baseline is not None:
            base_dir = Path(tmp) / "baseline"
            sha = export_baseline(baseline, base_dir)
            throughput.update(baseline_dir=str(base_dir), baseline_rev=f"{baseline} ({sha[:10]})")
        ours = _pinned(throughput)
        # Fresh processes: an empty NUMBA_CACHE_DIR compiles, the same dir again loads.
        cache = Path(tmp) / "numba-cache"
        cache.mkdir()
        env = {"NUMBA_CACHE_DIR": str(cache)}
        jit = {
            "cold": _pinned(dict(spec, mode="jit"), env),
            "warm": _pinned(dict(spec, mode="jit"), env),
        }
        truth = {p: np.load(data_dir / f"{p}_ic.npy") for p in PLACEMENTS}
        peers = (
            _peers(data_dir, cpu, min(repeats, 3), peer_venv, truth)
            if with_peers
            else {p: {"status": "not installed (run with --with-peers)"} for p in PEER_PACKAGES}
        )
    return {
        "machine": machine(),
        "state_bytes_by_rate": _state_bytes_by_rate(),
        "pinned_cpu": cpu,
        "rate_hz": RATE_HZ,
        "duration_s": duration,
        "repeats": repeats,
        "ours": ours,
        "jit": jit,
        "peers": peers,
        "targets": TARGETS,
    }


STATE_RATES_HZ = (20.0, 100.0, 400.0, 1000.0)  # the target holds at 400 Hz


def _state_bytes_by_rate() -> dict[str, dict[str, int]]:
    """`GaitStream.state_nbytes` per placement and rate (no timing: sizes only)."""
    from gaitlink.cloud.gait import PLACEMENTS as ALL
    from gaitlink.cloud.gait import GaitStream

    return {p: {f"{r:g}": GaitStream(r, p).state_nbytes for r in STATE_RATES_HZ} for p in ALL}


def _rate(sps: float) -> str:
    return f"{sps / 1e6:.2f} M" if sps >= 1e5 else f"{sps / 1e3:.1f} k"


def _ic(score: dict[str, float | None]) -> str:
    bias = score["bias_ms"]  # None (JSON null) when nothing matched
    return f"{score['f1']:.3f} / " + ("–" if bias is None or bias != bias else f"{bias:+.0f}")


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['cpu']}, {m['cores']} logical CPUs ({m['usable_cores']} usable), "
        f"{m['ram_gib']:.1f} GiB RAM, {m['os']}, Python {m['python']}, numpy {m['numpy']}, "
        f"numba {m['numba']}"
    )


def _baseline_lines(ours: dict[str, Any]) -> list[str]:
    """Rows comparing ours with the --baseline revision, timed in turns in one process."""
    lines = []
    for p, o in ours.items():
        b = o.get("baseline")
        if b:
            for what, key in (("segment", "segment_sps"), ("GaitStream", "stream_sps")):
                mine = b[f"ours_{key}"]
                lines.append(
                    f"| {what} vs baseline {b['rev']}, in turns | {p} | {_rate(mine)} vs "
                    f"{_rate(b[key])} | – | – | {mine / b[key]:.2f}× the baseline |"
                )
    return lines


def to_markdown(r: dict[str, Any]) -> str:
    t = r["targets"]
    hours = r["duration_s"] / 3600
    data = f"{hours:g} h" if hours >= 1 else f"{r['duration_s']:.0f} s"
    lines = [
        "# gait-speed",
        "",
        f"Machine: {machine_line(r['machine'])}.",
        "",
        f"Data: {data} of {r['rate_hz']:.0f} Hz synthetic walking per placement (walker, "
        f"noise 0.05, drift 1). Timed in a subprocess pinned to CPU {r['pinned_cpu']} with "
        f"NUMBA_NUM_THREADS=1; medians of {r['repeats']} repeats of the process's CPU time "
        "(not wall time: other processes on the core do not count); samples/s are per core. "
        "IC F1 and bias (detected − true, matched pairs): against the walker's truth, ±50 ms.",
        "",
        "| measure | placement | samples/s per core | IC F1 / bias ms | target | ratio to target |",
        "|---|---|---|---|---|---|",
    ]
    ours = r["ours"]
    for p, o in ours.items():
        lines.append(
            f"| segment | {p} | {_rate(o['segment_sps'])} | {_ic(o['segment_ic'])} | "
            f"≥ {t['segment_sps'] / 1e6:.0f} M | {o['segment_sps'] / t['segment_sps']:.2f}× |"
        )
    for p, o in ours.items():
        slice_s = o["reference_samples"] / r["rate_hz"]
        lines.append(
            f"| reference ({slice_s:.0f} s slice) | {p} | {_rate(o['reference_sps'])} | "
            f"{_ic(o['reference_ic'])} | – | – |"
        )
    for p, o in ours.items():
        ratio = o["segment_sps"] / o["reference_sps"]
        lines.append(
            f"| segment / reference | {p} | {ratio:.1f}× | – | ≥ {t['vs_reference']:.0f}× | "
            f"{ratio / t['vs_reference']:.2f}× |"
        )
    for p, o in ours.items():
        lines.append(
            f"| GaitStream, 50-sample pushes | {p} | {_rate(o['stream_sps'])} | – | "
            f"≥ {t['stream_sps'] / 1e6:.0f} M | {o['stream_sps'] / t['stream_sps']:.2f}× |"
        )
    lines += _baseline_lines(ours)
    for name, peer in r["peers"].items():
        if "sps" in peer:
            mine = ours[peer["placement"]]["segment_sps"]
            slice_s = peer["samples"] / r["rate_hz"]
            lines.append(
                f"| {name} {peer['version']}: {peer['what']} ({slice_s:.0f} s slice) | "
                f"{peer['placement']} | {_rate(peer['sps'])} | {_ic(peer['ic'])} | – | "
                f"segment / {name} = {mine / peer['sps']:.1f}× |"
            )
        else:
            what = peer.get("error") or peer["status"]
            lines.append(f"| {name} | – | {what} | – | – | – |")
    lines += [
        "",
        "| memory per stream | placement | bytes | target | ratio to target |",
        "|---|---|---|---|---|",
    ]
    for p, o in ours.items():
        for what, key in (("state arrays", "state_bytes"), ("retained (tracemalloc)",
                                                             "retained_bytes")):  # fmt: skip
            lines.append(
                f"| {what} | {p} | {o[key]:,} | < {t['stream_bytes']:,} | "
                f"{o[key] / t['stream_bytes']:.2f}× |"
            )
    by_rate = r.get("state_bytes_by_rate", {})
    if by_rate:
        rates = list(next(iter(by_rate.values())))
        lines += [
            "",
            "| state arrays per stream | "
            + " | ".join(f"{x} Hz" for x in rates)
            + f" | target at 400 Hz < {t['stream_bytes']:,} |",
            "|---|" + "---|" * (len(rates) + 1),
        ]
        for p, sizes in by_rate.items():
            ok = sizes.get("400", 0) < t["stream_bytes"]
            lines.append(f"| {p} | " + " | ".join(f"{sizes[x]:,}" for x in rates)
                         + f" | {'yes' if ok else 'NO'} |")  # fmt: skip
    cold, warm = r["jit"]["cold"], r["jit"]["warm"]
    lines += [
        "",
        "| first call, fresh process | import cloud.gait s | first segment() s | second s |",
        "|---|---|---|---|",
        f"| empty NUMBA_CACHE_DIR (compile) | {cold['import_s']:.2f} | "
        f"{cold['first_call_s']:.2f} | {cold['second_call_s']:.4f} |",
        f"| same dir again (cached) | {warm['import_s']:.2f} | {warm['first_call_s']:.2f} | "
        f"{warm['second_call_s']:.4f} |",
        "",
        "Memory: 'state arrays' is `GaitStream.state_nbytes` (rings and scalars); 'retained' "
        "is what tracemalloc sees held per live stream after 10 s of pushes, output buffers "
        "and Python objects included.",
    ]
    return "\n".join(lines) + "\n"
