"""`gaitlink gait segment`: files written from a walker recording; one-line errors for bad input."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gaitlink.cloud.gait import CYCLE_DTYPE, segment
from gaitlink.hardware.walker import synthesize
from gaitlink.tools.cli import main

REPO = Path(__file__).resolve().parents[2]
RATE = 100.0


@pytest.fixture(scope="module")
def foot_walk():
    return synthesize("foot", RATE, 30.0, noise=0.02, seed=11)


def _write(path: Path, header: list[str], rows: np.ndarray | list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def walk_csv(tmp_path: Path, foot_walk) -> Path:
    # pandas-style: an unnamed index column first.
    rows = [[i, *(f"{v:.9g}" for v in row)] for i, row in enumerate(foot_walk.samples)]
    return _write(tmp_path / "walk.csv", ["", "ax", "ay", "az", "gx", "gy", "gz"], rows)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _segment(csv_path: Path, *extra: str) -> int:
    return main(["gait", "segment", str(csv_path), "--rate", "100", "--placement", "foot",
                 *extra])  # fmt: skip


def test_segment__valid(tmp_path: Path, foot_walk, walk_csv: Path, capsys) -> None:
    out = tmp_path / "out"
    png = tmp_path / "plots" / "cycle.png"
    assert _segment(walk_csv, "--out-dir", str(out), "--plot", str(png)) == 0
    expected = segment(foot_walk.samples, RATE, "foot")

    events = _read(out / "events.csv")
    times = [float(e["time_s"]) for e in events]
    assert times == sorted(times)
    assert sum(e["kind"] == "IC" for e in events) == len(expected.initial_contacts)
    assert sum(e["kind"] == "FC" for e in events) == len(expected.final_contacts)
    ic = np.array([float(e["time_s"]) for e in events if e["kind"] == "IC"])
    np.testing.assert_allclose(ic, expected.initial_contacts, atol=1e-6)

    with (out / "cycles.csv").open(newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == CYCLE_DTYPE.names
    cycles = _read(out / "cycles.csv")
    assert len(cycles) == len(expected.cycles)
    assert [c["valid"] for c in cycles] == [str(v) for v in expected.cycles["valid"]]

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "initial contacts" in capsys.readouterr().out


def test_segment__lower_back_plot_shows_left_right_and_pooled(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    w = synthesize("lower_back", RATE, 30.0, noise=0.02, seed=12)
    path = _write(tmp_path / "back.csv", ["ax", "ay", "az", "gx", "gy", "gz"], w.samples)
    png = tmp_path / "back.png"
    args = ["gait", "segment", str(path), "--rate", "100", "--placement", "lower_back",
            "--out-dir", str(tmp_path), "--plot", str(png)]  # fmt: skip
    assert main(args) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cycles = _read(tmp_path / "cycles.csv")
    assert {c["side"] for c in cycles if c["valid"] == "True"} == {"left", "right"}


def test_segment__deg_per_s_and_named_columns(tmp_path: Path, foot_walk) -> None:
    deg = foot_walk.samples.copy()
    deg[:, 3:] = np.degrees(deg[:, 3:])
    names = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    path = _write(tmp_path / "deg.csv", ["t", *names], np.column_stack((foot_walk.time_s, deg)))
    out = tmp_path / "out"
    code = _segment(path, "--gyro-unit", "deg/s", "--columns", ",".join(names),
                    "--out-dir", str(out))  # fmt: skip
    assert code == 0
    ic = [float(e["time_s"]) for e in _read(out / "events.csv") if e["kind"] == "IC"]
    np.testing.assert_allclose(
        ic, segment(foot_walk.samples, RATE, "foot").initial_contacts, atol=1e-6
    )


def _bad_numbers(tmp_path: Path, walk_csv: Path) -> Path:
    lines = walk_csv.read_text().splitlines()
    fields = lines[5].split(",")
    fields[5] = "oops"  # gy of the 5th data row, file line 6
    lines[5] = ",".join(fields)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("missing file", ["{tmp}/nope.csv"], "no such file"),
        ("directory", ["{tmp}"], "not a file"),
        ("empty file", ["{empty}"], "is empty"),
        ("header only", ["{header_only}"], "no data rows"),
        ("missing columns", ["{walk}", "--columns", "ax", "ay", "az", "gx", "gy", "wz"],
         "no column 'wz'"),
        ("five columns", ["{walk}", "--columns", "ax,ay,az,gx,gy"], "six names"),
        ("non-numeric", ["{bad}"], "line 6, column 'gy': 'oops' is not a number"),
        ("rate out of range", ["{walk}", "--rate", "10"], "--rate 10"),
        ("rate not a number", ["{walk}", "--rate", "fast"], "--rate must be a number"),
        ("unknown placement", ["{walk}", "--placement", "wrist"], "unknown placement 'wrist'"),
        ("unknown gyro unit", ["{walk}", "--gyro-unit", "rpm"], "unknown --gyro-unit"),
    ],
)  # fmt: skip
def test_segment__invalid(
    tmp_path: Path, walk_csv: Path, capsys, case: str, args: list[str], message: str
) -> None:
    paths = {
        "tmp": tmp_path,
        "walk": walk_csv,
        "bad": _bad_numbers(tmp_path, walk_csv),
        "empty": tmp_path / "empty.csv",
        "header_only": tmp_path / "header.csv",
    }
    paths["empty"].write_text("")
    paths["header_only"].write_text("ax,ay,az,gx,gy,gz\n")
    argv = [a.format(**paths) for a in args]
    base = ["gait", "segment", argv[0], "--rate", "100", "--placement", "foot",
            "--out-dir", str(tmp_path / "out")]  # fmt: skip
    assert main(base + argv[1:]) == 2, case
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gaitlink gait segment: "), err
    assert message in err
    assert not (tmp_path / "out" / "events.csv").exists()


def test_segment__as_a_process(tmp_path: Path, walk_csv: Path) -> None:
    cmd = [sys.executable, "-m", "gaitlink.tools.cli", "gait", "segment"]
    ok = subprocess.run(
        [*cmd, str(walk_csv), "--rate", "100", "--placement", "foot", "--out-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "events.csv").is_file() and (tmp_path / "cycles.csv").is_file()
    bad = subprocess.run(
        [*cmd, str(tmp_path / "missing.csv"), "--rate", "100", "--placement", "foot"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
