"""`gaitlink bench gait-accuracy --quick`: runs, prints the tables, numbers are finite.

No accuracy thresholds here (those are the benchmark's to report), only structure.
"""

from __future__ import annotations

import json
import math

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
    real, synth, pooled, ms = _tables(out)
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


def test_gait_accuracy__quick_json(capsys) -> None:
    assert main(["bench", "gait-accuracy", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {r["foot"] for r in result["real"]} == {"left", "right"}
    for row in result["real"] + result["synthetic"]:
        for kind in ("ic", "fc"):
            assert all(math.isfinite(row[kind][k]) for k in ("precision", "recall", "f1"))
    assert all(0.0 <= r["valid_fraction"] <= 1.0 for r in result["ms"])


def test_gait_accuracy__missing_data(tmp_path, capsys) -> None:
    assert main(["bench", "gait-accuracy", "--quick", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "imu_sample.csv" in err and err.count("\n") == 1
