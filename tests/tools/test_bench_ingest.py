"""`gaitlink bench ingest` smoke run: a small backlog, every figure present and sane (no
timing is asserted; the benchmark's numbers are for docs/benchmarks.md)."""

import math

from gaitlink.tools.bench import ingest


def test_bench_ingest__small_run_reports_every_figure():
    spec = ingest.Spec(samples=10_000, devices=4, repeats=1, latency_s=1.0)
    result = ingest.run(spec)
    for name in ("raw_points_per_s_1_writer", "raw_points_per_s_4_writers",
                 "gaitlink_samples_per_s", "gaitlink_bad_frames_samples_per_s"):  # fmt: skip
        assert math.isfinite(result[name]) and result[name] > 0, name
    assert result["runs"]["dead_letters_per_bad_run"] == [2]  # 1 % of 200 frames
    assert result["peak_rss_mb"] > 0 and result["latency_at_half_load"]["measured_frames"] > 0
    assert math.isfinite(result["ingest_cpu_us_per_sample"])
    assert result["ingest_cpu_us_per_sample"] >= 0
    assert "| ratio" not in ingest.markdown(result) and "ratio to the raw" in ingest.markdown(
        result
    )
    assert result["gait_kernels"] == "ahead-of-time" and result["machine"]["cores"] >= 1
    assert "machine: " in ingest.markdown(result)
