"""Timing worker of `gait-speed`, run by it in a subprocess pinned to one CPU.

``python -m gaitlink.tools.bench._pinned JSON`` with JSON = {"mode": "throughput" | "jit", "cpu": n,
...}; prints one JSON object on its last line. The parent sets NUMBA_NUM_THREADS=1 (and
NUMBA_CACHE_DIR for the JIT probes) before this process starts, so numba sees them.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

from gaitlink.tools.bench.timing import median_time, median_times_alternating, sized_slice

REFERENCE_BUDGET_S = 10.0  # the reference is timed on a slice taking 1/4-1/2 of this
PUSH = 50
N_STREAMS = 100  # streams created to measure memory per stream


def _ic_score(detected, truth) -> dict[str, float]:
    from gaitlink.tools.bench.events import score_events

    score = score_events(detected, truth, 0.05)
    return {"f1": score.f1, "bias_ms": score.bias_ms}


def throughput(spec: dict) -> dict:
    import numpy as np

    from gaitlink.cloud.gait import GaitStream, segment
    from gaitlink.cloud.gait.reference import segment_reference

    rate, repeats = spec["rate_hz"], spec["repeats"]
    base = None
    if spec.get("baseline_dir"):  # cloud/gait of another revision, as `gait_baseline`
        sys.path.insert(0, spec["baseline_dir"])
        import gait_baseline as base
    out: dict[str, dict] = {}
    for placement in spec["placements"]:
        data = Path(spec["data_dir"])
        x = np.load(data / f"{placement}_samples.npy")
        truth = np.load(data / f"{placement}_ic.npy")
        n = len(x)
        segment(x[: int(10 * rate)], rate, placement)  # compile / load before timing
        t_seg = median_time(lambda x=x, p=placement: segment(x, rate, p), repeats)
        ic = _ic_score(segment(x, rate, placement).initial_contacts, truth)

        # The reference is plain numpy/Python: time it on a slice it finishes in seconds.
        def reference(m: int, x=x, p=placement):
            return segment_reference(x[:m], rate, p)

        m = sized_slice(reference, n, int(60 * rate), REFERENCE_BUDGET_S)
        t_ref = median_time(lambda m=m, run=reference: run(m), min(repeats, 3))
        ref_ic = _ic_score(reference(m).initial_contacts, truth[truth < m / rate])

        def stream_all(x=x, p=placement) -> None:
            stream = GaitStream(rate, p)
            for i in range(0, len(x), PUSH):
                stream.push(x[i : i + PUSH])

        t_stream = median_time(stream_all, repeats)
        baseline = {}
        if base is not None:
            # Ours and the baseline in turns, segment and stream; these figures replace
            # the ones above in the comparison (same minutes of the machine's load).
            base.segment(x[: int(10 * rate)], rate, placement)  # compile before timing

            def base_stream(x=x, p=placement) -> None:
                stream = base.GaitStream(rate, p)
                for i in range(0, len(x), PUSH):
                    stream.push(x[i : i + PUSH])

            t = median_times_alternating(
                [
                    lambda x=x, p=placement: segment(x, rate, p),
                    lambda x=x, p=placement: base.segment(x, rate, p),
                    stream_all,
                    base_stream,
                ],
                repeats,
            )
            baseline = {
                "rev": spec["baseline_rev"],
                "ours_segment_sps": n / t[0],
                "segment_sps": n / t[1],
                "ours_stream_sps": n / t[2],
                "stream_sps": n / t[3],
            }
        out[placement] = {
            "n_samples": n,
            "segment_s": t_seg,
            "segment_sps": n / t_seg,
            "segment_ic": ic,
            "reference_samples": m,
            "reference_s": t_ref,
            "reference_sps": m / t_ref,
            "reference_ic": ref_ic,
            "stream_s": t_stream,
            "stream_sps": n / t_stream,
            **_memory(GaitStream, rate, placement, x[: int(10 * rate)]),
            "baseline": baseline,
        }
    return out


def _memory(stream_cls, rate: float, placement: str, block) -> dict:
    """State arrays of one stream, and what a live stream keeps allocated (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    streams = [stream_cls(rate, placement) for _ in range(N_STREAMS)]
    for s in streams:
        for i in range(0, len(block), PUSH):
            s.push(block[i : i + PUSH])
    gc.collect()
    retained = (tracemalloc.get_traced_memory()[0] - before) / N_STREAMS
    tracemalloc.stop()
    return {"state_bytes": int(streams[0].state_nbytes), "retained_bytes": int(retained)}


def jit(spec: dict) -> dict:
    """Import time and first `segment` call (compile, or load from the numba cache)."""
    start = time.perf_counter()
    import numpy as np

    from gaitlink.cloud.gait import segment

    imported = time.perf_counter()
    x = np.load(Path(spec["data_dir"]) / "foot_samples.npy")[: int(10 * spec["rate_hz"])]
    segment(x, spec["rate_hz"], "foot")
    first = time.perf_counter()
    segment(x, spec["rate_hz"], "foot")
    second = time.perf_counter()
    return {
        "import_s": imported - start,
        "first_call_s": first - imported,
        "second_call_s": second - first,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.sched_setaffinity(0, {spec["cpu"]})
    result = {"throughput": throughput, "jit": jit}[spec["mode"]](spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
