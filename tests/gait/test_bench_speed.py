"""`gaitlink bench gait-speed --quick`: runs end to end, tables complete, numbers finite.

No timing assertions: the machine is shared and noisy; the numbers are the benchmark's
to report, not the tests' to judge.
"""

from __future__ import annotations

import json
import math
import re
import subprocess

from gaitlink.tools.bench.speed import PEER_PACKAGES, PLACEMENTS
from gaitlink.tools.cli import main


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_gait_speed__quick(capsys) -> None:
    assert main(["bench", "gait-speed", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert set(result["ours"]) == set(PLACEMENTS)
    for o in result["ours"].values():
        for key in ("segment_sps", "reference_sps", "stream_sps"):
            assert _finite(o[key]) and o[key] > 0, key
        for key in ("segment_ic", "reference_ic"):
            assert _finite(o[key]["f1"]) and _finite(o[key]["bias_ms"]), key
        assert o["state_bytes"] > 0 and o["retained_bytes"] > 0
    for run in ("cold", "warm"):
        assert all(_finite(v) and v >= 0 for v in result["jit"][run].values())
    # State bytes per stream at 20-1000 Hz for every placement; 400 Hz under 64 KiB.
    sizes = result["state_bytes_by_rate"]
    assert set(sizes) == {"foot", "shank", "lower_back"}
    for by_rate in sizes.values():
        assert list(by_rate) == ["20", "100", "400", "1000"]
        assert 0 < by_rate["400"] < 65_536 and by_rate["1000"] > by_rate["400"]
    # Without --with-peers nothing is installed and the peers say so.
    for name in PEER_PACKAGES:
        assert result["peers"][name]["status"].startswith("not installed")

    from gaitlink.tools.bench.speed import to_markdown

    markdown = to_markdown(result)
    assert markdown.startswith("# gait-speed") and "Machine: " in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| segment |")]
    assert len(rows) == len(PLACEMENTS)
    for row in rows:
        rate = row.split("|")[3]
        assert re.fullmatch(r" \d+(\.\d+)? [Mk] ", rate), row
    assert markdown.count("not installed") == len(PEER_PACKAGES)
    assert "| state arrays per stream | 20 Hz | 100 Hz | 400 Hz | 1000 Hz |" in markdown


def test_gait_speed__baseline_is_cloud_gait_of_that_revision(tmp_path) -> None:
    from gaitlink.tools.bench.speed import REPO, export_baseline

    sha = export_baseline("HEAD", tmp_path)
    pkg = tmp_path / "gait_baseline"
    assert len(sha) == 40 and (pkg / "__init__.py").is_file() and (pkg / "stream.py").is_file()
    # The same files as HEAD's cloud/gait, byte for byte (the kernels import relatively,
    # so the copy imports as a package of its own).
    for path in pkg.glob("*.py"):
        head = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{sha}:cloud/gait/{path.name}"],
            capture_output=True,
            check=True,
        ).stdout
        assert path.read_bytes() == head, path.name


def test_gait_speed__unknown_baseline_is_one_line_exit_2(capsys) -> None:
    assert main(["bench", "gait-speed", "--quick", "--baseline", "no-such-rev-xyz"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-rev-xyz" in err and len(err.splitlines()) == 1


def test_gait_speed__markdown_shows_the_baseline_ratio() -> None:
    from gaitlink.tools.bench.speed import _baseline_lines

    ours = {"lower_back": {"baseline": {"rev": "main (0123456789)", "ours_segment_sps": 12e6,
                                        "segment_sps": 10e6, "ours_stream_sps": 3e6,
                                        "stream_sps": 2e6}}}  # fmt: skip
    lines = _baseline_lines(ours)
    assert len(lines) == 2
    assert "12.00 M vs 10.00 M" in lines[0] and "1.20× the baseline" in lines[0]
    assert "3.00 M vs 2.00 M" in lines[1] and "1.50× the baseline" in lines[1]
