"""`GaitStream`: chunking invariance, gaps, late data, memory, the per-device pool."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitlink.cloud.gait import (
    PLACEMENTS,
    GaitStream,
    LateData,
    StreamPool,
    _layout,
    segment,
    warmup,
)
from gaitlink.cloud.gait import stream as stream_module
from gaitlink.cloud.gait.methods import make_plan


def _feed(stream: GaitStream, x: np.ndarray, sizes, quality=None) -> dict[str, np.ndarray]:
    parts = {"ic": [], "fc": [], "cycles": [], "norm": []}
    i = 0
    for size in sizes:
        q = None if quality is None else quality[i : i + size]
        r = stream.push(x[i : i + size], quality=q)
        i += size
        parts["ic"].append(r.initial_contacts)
        parts["fc"].append(r.final_contacts)
        parts["cycles"].append(r.cycles)
        parts["norm"].append(r.normalized)
    return {key: np.concatenate(v) for key, v in parts.items()}


def _assert_same(fed: dict[str, np.ndarray], batch) -> None:
    # Bit for bit: events, every column of the table, the normalised cycles.
    assert fed["ic"].tobytes() == batch.initial_contacts.tobytes()
    assert fed["fc"].tobytes() == batch.final_contacts.tobytes()
    assert fed["cycles"].tobytes() == batch.cycles.tobytes()
    assert fed["norm"].tobytes() == batch.normalized.tobytes()


def _signal(walk, placement: str) -> tuple[np.ndarray, np.ndarray]:
    w = walk(placement, 100.0, 20.0, cadence_spm=60, noise=0.05, drift=1.0, seed=11)
    x = w.samples.copy()
    x[900:903, 2] = np.nan
    quality = np.zeros(len(x), np.uint16)
    quality[1400] = 1 << 2
    return x, quality


def _chunks(n: int, cuts: list[int]) -> list[int]:
    edges = sorted({0, n, *(c % n for c in cuts)})
    return [b - a for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("placement", PLACEMENTS)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(min_value=1, max_value=10_000), max_size=120))
def test_stream__any_chunking_equals_batch(walk, placement, cuts) -> None:
    x, quality = _signal(walk, placement)
    batch = segment(x, 100.0, placement, quality=quality)
    assert batch.cycles.size > 10
    fed = _feed(GaitStream(100.0, placement), x, _chunks(len(x), cuts), quality)
    _assert_same(fed, batch)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("size", [1, 20, 50, 64, 65, 333])
def test_stream__fixed_chunks_equal_batch(walk, placement, size) -> None:
    x, quality = _signal(walk, placement)
    batch = segment(x, 100.0, placement, quality=quality)
    n = len(x)
    _assert_same(
        _feed(GaitStream(100.0, placement), x, [size] * (n // size) + [n % size], quality), batch
    )


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_stream__gap_equals_batch_gap_and_resets(walk, placement) -> None:
    x, _ = _signal(walk, placement)
    batch = segment(x, 100.0, placement, gaps=[1000])
    stream = GaitStream(100.0, placement)
    first = stream.push(x[:1000])
    second = stream.push(x[1000:], gap_before=True)
    fed = {
        "ic": np.concatenate((first.initial_contacts, second.initial_contacts)),
        "fc": np.concatenate((first.final_contacts, second.final_contacts)),
        "cycles": np.concatenate((first.cycles, second.cycles)),
        "norm": np.concatenate((first.normalized, second.normalized)),
    }
    _assert_same(fed, batch)
    gap = second.cycles[second.cycles["reason"] == "gap"]
    assert 1 <= gap.size <= 2 and not gap["valid"].any()
    assert np.all(gap["end"] == pytest.approx(9.99)) and np.isnan(gap["fc"]).all()
    # Nothing spans the gap, and after it the detector starts as on fresh data.
    normal = second.cycles[second.cycles["reason"] != "gap"]
    assert np.all(normal["start"] >= 10.0)
    fresh = segment(x[1000:], 100.0, placement)
    np.testing.assert_allclose(second.initial_contacts, fresh.initial_contacts + 10.0)


def test_stream__t0_jump_is_a_gap_and_late_data_is_rejected(walk) -> None:
    x = walk("foot", 100.0, 30.0, cadence_spm=55, seed=12).samples
    stream = GaitStream(100.0, "foot")
    stream.push(x[:1000], t0=1_700_000_000.0)
    assert stream.time_s == pytest.approx(10.0)
    with pytest.raises(LateData, match="before the stream's current time"):
        stream.push(x[1000:1050], t0=1_700_000_000.0 + 9.5)
    assert stream.samples_seen == 1000  # the late block was not consumed
    stream.push(x[1000:1050], t0=1_700_000_000.0 + 10.0 + 0.004)  # jitter < half a sample
    r = stream.push(x[1050:2000], t0=1_700_000_000.0 + 12.5)  # 2 s missing
    assert stream.samples_seen == 1050 + 200 + 950
    assert "gap" in set(r.cycles["reason"])
    assert np.all(r.initial_contacts > 12.5)


def test_stream__reset_forgets_open_cycles(walk) -> None:
    x = walk("foot", 100.0, 30.0, cadence_spm=55, seed=13).samples
    stream = GaitStream(100.0, "foot")
    stream.push(x[:1500])
    stream.reset()
    r = stream.push(x[1500:])
    assert np.all(r.cycles["start"] >= 15.0) and "gap" not in set(r.cycles["reason"])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rate", [100.0, 400.0])
def test_stream__memory_per_stream(walk, placement, rate) -> None:
    x = walk(placement, rate, 20.0, cadence_spm=60, seed=14).samples
    stream = GaitStream(rate, placement)
    stream.push(x[:50])
    budget = 64 * 1024 if rate <= 200 or placement != "lower_back" else 80 * 1024
    assert stream.state_nbytes < budget
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    streams = [GaitStream(rate, placement) for _ in range(10)]
    for s in streams:
        for i in range(0, len(x), 50):
            s.push(x[i : i + 50])
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(d.size_diff for d in after.compare_to(before, "filename"))
    assert grown / len(streams) < budget + 32 * 1024  # + reusable output buffers


def test_stream__pushes_reuse_output_buffers_and_results_stay_the_callers(walk) -> None:
    # Pushes write into their thread's output buffers, allocated once and reused (item 7
    # of issue 12); what a push returns is copied out of them, so the next push, of this
    # stream or another one on the same thread, cannot change it.
    x = walk("lower_back", 100.0, 20.0, cadence_spm=60, seed=17).samples
    a, b = GaitStream(100.0, "lower_back"), GaitStream(100.0, "lower_back")
    kept, copies, buffers = [], [], set()
    for i in range(0, len(x), 50):
        for s in (a, b):
            r = s.push(x[i : i + 50])
            buffers.add(id(stream_module._reused.out))
            kept.append(r)
            copies.append((r.initial_contacts.copy(), r.normalized.copy()))
    assert len(buffers) == 1
    assert sum(len(r.initial_contacts) for r in kept) > 20
    for r, (ic, norm) in zip(kept, copies, strict=True):
        np.testing.assert_array_equal(r.initial_contacts, ic)
        np.testing.assert_array_equal(r.normalized, norm)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_plan__integer_parameters_are_integers(placement) -> None:
    plan = make_plan(placement, 102.4)
    assert plan.ipar.dtype == np.int64 and plan.ipar.size == _layout.N_IPAR
    assert plan.par.dtype == np.float64 and plan.par.size == _layout.N_PAR
    assert plan.ipar[_layout.IP_H1] == plan.w1.size // 2
    assert plan.par[_layout.P_RATE] == 102.4


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("rate", [20.0, 50.0, 102.4, 204.8, 400.0, 1000.0])
def test_stream__lookahead_is_bounded(placement, rate) -> None:
    plan = make_plan(placement, rate)
    assert 0.0 < plan.lookahead_s <= 1.0  # issue 12: at most 1 s at any rate
    assert plan.ring >= 2.5 * rate


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_stream__every_ic_is_final_within_the_lookahead(walk, placement) -> None:
    # Data time from an IC to the push that reports it: at most the look-ahead (plus the
    # push's own length), also for the lower back's first step of a bout, which waits
    # for the next step before it counts as walking.
    rate, n = 100.0, 10
    x = walk(placement, rate, 30.0, cadence_spm=45, noise=0.05, seed=16).samples
    stream = GaitStream(rate, placement)
    seen = 0
    for i in range(0, len(x), n):
        r = stream.push(x[i : i + n])
        now = (i + len(x[i : i + n])) / rate
        for t in r.initial_contacts:
            assert now - t <= stream.lookahead_s + n / rate + 1e-9, (placement, t, now)
        seen += len(r.initial_contacts)
    assert seen > 20


def test_stream__cycle_emitted_soon_after_its_closing_ic(walk) -> None:
    rate = 100.0
    for placement in PLACEMENTS:
        x = walk(placement, rate, 20.0, cadence_spm=60, seed=15).samples
        stream = GaitStream(rate, placement)
        for i in range(0, len(x), 10):
            r = stream.push(x[i : i + 10])
            now = (i + len(x[i : i + 10])) / rate
            for end in r.cycles["end"]:
                assert now - end <= stream.lookahead_s + 0.2 + 0.1, placement


def test_stream__invalid_input() -> None:
    stream = GaitStream(100.0, "foot")
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        stream.push(np.zeros((10, 5)))
    with pytest.raises(ValueError, match="quality"):
        stream.push(np.zeros((10, 6)), quality=np.zeros(9, np.uint16))
    with pytest.raises(ValueError, match="placement"):
        GaitStream(100.0, "wrist")
    r = stream.push(np.zeros((0, 6)))
    assert r.cycles.size == 0


def test_pool__one_stream_per_device(walk) -> None:
    x = walk("foot", 100.0, 30.0, cadence_spm=55, seed=16).samples
    pool = StreamPool()
    got = {"a": [], "b": []}
    for i in range(0, len(x), 50):
        for device in got:
            got[device].append(pool.push(device, x[i : i + 50], 100.0, "foot").initial_contacts)
    assert len(pool) == 2 and "a" in pool
    expected = segment(x, 100.0, "foot").initial_contacts
    for device in got:
        np.testing.assert_array_equal(np.concatenate(got[device]), expected)
    pool.push("a", x[:50], 200.0, "foot")  # new rate: a new stream
    assert pool.stream("a").rate_hz == 200.0
    pool.drop("a")
    assert "a" not in pool and pool.stream("a") is None


def test_warmup_runs() -> None:
    warmup()
