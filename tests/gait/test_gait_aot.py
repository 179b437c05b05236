"""The kernels compiled ahead of time (`gaitlink gait build`, run by tools/setup.sh) against
numba's JIT of the same sources: bit-for-bit the same results, and never a stale build."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from gaitlink.cloud.gait import PLACEMENTS, GaitStream, _compiled, segment
from gaitlink.cloud.gait import stream as stream_module


@pytest.fixture
def jit(monkeypatch):
    """The public layer calling numba's JIT kernels instead of the built ones."""
    from gaitlink.cloud.gait._cycles import _normalize_cycles
    from gaitlink.cloud.gait._kernels import _push
    from gaitlink.cloud.gait._pace import _init_state, _reset

    monkeypatch.setattr(stream_module, "push", _push)
    monkeypatch.setattr(stream_module, "init_state", _init_state)
    monkeypatch.setattr(stream_module, "reset", _reset)
    monkeypatch.setattr(stream_module, "_normalize", _normalize_cycles)


def _assert_same(a, b) -> None:
    for name in ("initial_contacts", "final_contacts", "normalized", "ic_sides"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # Field by field: a structured array's == does not take NaN (no value) as equal.
    assert a.cycles.dtype == b.cycles.dtype
    for name in a.cycles.dtype.names:
        np.testing.assert_array_equal(a.cycles[name], b.cycles[name], err_msg=name)


def _streamed(x, rate, placement, quality):
    """Pushes of uneven sizes, a gap, and a reset: every entry point of the kernels."""
    stream = GaitStream(rate, placement)
    results, i = [], 0
    for k, size in enumerate([37, 200, 5, 613, 90, 1000] * 20):
        if i >= len(x):
            break
        if k == 7:
            stream.reset()
        results.append(
            stream.push(x[i : i + size], quality=quality[i : i + size], gap_before=k == 4)
        )
        i += size
    return results


def test_gait_aot__is_what_the_public_layer_calls() -> None:
    # tools/setup.sh builds it; without it every service would carry numba in memory.
    assert _compiled.KIND == "ahead-of-time", "run `gaitlink gait build`"
    assert stream_module.push is _compiled.push
    assert type(_compiled.push).__module__ != "numba.core.registry"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_gait_aot__same_as_jit__walks_gaps_flags(walk, placement, request) -> None:
    w = walk(placement, 100.0, 60.0)
    x = w.samples
    quality = np.zeros(len(x), np.uint16)
    quality[2500:2510] = 1  # a cycle with a flagged sample is invalid: a path of its own
    x = x.copy()
    x[4000:4003, 1] = np.nan
    built = segment(x, 100.0, placement, quality=quality, gaps=[1500])
    built_stream = _streamed(x, 100.0, placement, quality)
    request.getfixturevalue("jit")
    assert stream_module.push is not _compiled.push
    reference = segment(x, 100.0, placement, quality=quality, gaps=[1500])
    assert len(reference.cycles) > 20 and reference.cycles["valid"].sum() > 10
    _assert_same(built, reference)
    for a, b in zip(built_stream, _streamed(x, 100.0, placement, quality), strict=True):
        _assert_same(a, b)


@pytest.mark.parametrize(("rate", "channels"), [(20.0, 6), (1000.0, 6), (100.0, 3)])
def test_gait_aot__same_as_jit__rates_and_accelerometer_only(walk, rate, channels, request):
    x = walk("lower_back", rate, 30.0).samples[:, :channels]
    built = segment(x, rate, "lower_back")
    request.getfixturevalue("jit")
    reference = segment(x, rate, "lower_back")
    assert len(reference.cycles) > 5
    _assert_same(built, reference)


def test_gait_aot__same_as_jit__normalize_cycles(walk, request) -> None:
    x = walk("foot", 100.0, 30.0).samples
    starts = np.array([100.25, 230.5, 1000.0])
    ends = starts + 110.75
    built = stream_module.normalize_cycles(x[50:], starts, ends, first=50)
    request.getfixturevalue("jit")
    reference = stream_module.normalize_cycles(x[50:], starts, ends, first=50)
    assert built.shape == (3, 150, 6)
    np.testing.assert_array_equal(built, reference)


def test_gait_aot__digest__changes_with_any_kernel_source(tmp_path) -> None:
    build = _compiled.BUILD
    for path in build.directory.glob("_*.py"):
        shutil.copy(path, tmp_path / path.name)
    assert build.digest(tmp_path) == build.digest()
    rings = tmp_path / "_rings.py"
    rings.write_text(rings.read_text() + "\n# edited\n")
    assert build.digest(tmp_path) != build.digest()


def test_gait_aot__stale_build__not_loaded(monkeypatch) -> None:
    # Sources edited since the build: their digest names a module nobody built.
    monkeypatch.setattr(type(_compiled.BUILD), "digest", lambda self, directory=None: "0" * 16)
    push, *_, kind, why = _compiled._load()
    assert kind == "numba JIT" and push is not _compiled.push
    assert why.startswith("the ahead-of-time build is not there") and "0" * 16 in why


def test_gait_aot__ingest_imports__no_numba() -> None:
    # The ingest's whole import graph and a warm-up of every kernel, in a fresh interpreter.
    code = (
        "import sys; import gaitlink.cloud.ingest.app, gaitlink.cloud.ingest.gait; "
        "from gaitlink.cloud.gait import warmup; warmup(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
