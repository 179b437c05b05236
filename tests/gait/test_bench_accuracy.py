"""`gaitlink bench gait-accuracy --quick`: runs, prints the tables, numbers are finite.

No accuracy thresholds here (those are the benchmark's to report), only structure.
"""

from __future__ import annotations

import json
import math

import pytest

from gaitlink.tools.bench.accuracy import PLACEMENTS, QUICK
from gaitlink.tools.cli import main
from tests.gait.helpers import needs_real_data

pytestmark = needs_real_data


def _tables(markdown: str) -> list[list[list[str]]]:
    """Every markdown table as rows of cells (header first, separator dropped)."""
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip() for c in line.strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def test_gait_accuracy__quick_markdown(capsys) -> None:
    assert main(["bench", "gait-accuracy", "--quick"]) == 0
    out = capsys.readouterr().out
    glance, real, synth, pooled, ms = _tables(out)
    # Pooled and held-out rows for the foot (one subject) and the lower back (two).
    assert glance[0][:2] == ["dataset", "n ref"] and len(glance) == 1 + 1 + 3
    assert [r[0].split(":")[0] for r in glance[1:]] == ["foot (gaitmap)"] + 3 * [
        "lower back (Mobilise-D)"
    ]
    assert sum(int(r[1]) for r in glance[3:]) == int(glance[2][1])  # subjects add up
    for row in glance[1:]:
        assert all(_is_number(c) for c in row[1:10]), row
    for row in glance[2:]:
        assert _is_number(row[11]) and _is_number(row[12]), row  # side, false ICs/min
    n_synth = len(PLACEMENTS) * len(QUICK["rates"]) * len(QUICK["cadences"])
    assert real[0][:3] == ["foot", "event", "span s"] and len(real) == 1 + 4
    assert synth[0][:3] == ["placement", "rate Hz", "cadence /min"] and len(synth) == 1 + n_synth
    assert len(pooled) == 1 + 2 * len(PLACEMENTS)
    assert ms[0][0] == "foot" and len(ms) == 1 + 2
    # Counts, P, R, F1, MAE and bias are finite numbers in every row.
    for row in real[1:]:
        assert all(_is_number(c) for c in row[3:10]), row
    for row in synth[1:]:
        assert all(_is_number(c) for c in row[1:]), row
    for row in pooled[1:]:
        assert all(_is_number(c) for c in row[2:]), row
    for row in ms[1:]:
        assert all(_is_number(c) for c in (row[3], row[4], row[5], row[6], row[8], row[9])), row


def test_gait_accuracy__bland_altman_plots(tmp_path, capsys) -> None:
    pytest.importorskip("matplotlib")
    assert main(["bench", "gait-accuracy", "--quick", "--plot", str(tmp_path / "ba")]) == 0
    out = capsys.readouterr().out
    for name in ("foot", "lower_back"):
        path = tmp_path / "ba" / f"bland_altman_{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(path) in out


def test_gait_accuracy__missing_lowback_data(tmp_path, capsys) -> None:
    assert main(["bench", "gait-accuracy", "--quick", "--lowback-data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--lowback-data" in err and err.count("\n") == 1


def test_gait_accuracy__quick_json(capsys) -> None:
    assert main(["bench", "gait-accuracy", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {r["foot"] for r in result["real"]} == {"left", "right"}
    lb = result["glance"]["lower_back"]
    assert len(lb) == 3 and lb[0]["n_ref"] == lb[1]["n_ref"] + lb[2]["n_ref"]
    assert all(0.0 <= r["f1_100"] <= 1.0 and math.isfinite(r["mae_ms"]) for r in lb)
    for row in result["real"] + result["synthetic"]:
        for kind in ("ic", "fc"):
            assert all(math.isfinite(row[kind][k]) for k in ("precision", "recall", "f1"))
    assert all(0.0 <= r["valid_fraction"] <= 1.0 for r in result["ms"])


def test_gait_accuracy__missing_data(tmp_path, capsys) -> None:
    assert main(["bench", "gait-accuracy", "--quick", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "imu_sample.csv" in err and err.count("\n") == 1
