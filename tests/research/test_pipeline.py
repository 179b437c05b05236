"""`gaitlink.research`, export and plots on data that went through the whole pipeline:
firmware under MicroPython -> site broker -> gateway -> cloud broker -> ingest -> InfluxDB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from gaitlink.cloud.gait import segment
from gaitlink.cloud.gait.table import CHANNELS
from gaitlink.research import connect
from gaitlink.tools import demo

pytestmark = [pytest.mark.e2e, pytest.mark.micropython]

TASK = "level_walking"
SECONDS = 30


@pytest.fixture(scope="module")
def walked(stack, tmp_path_factory):
    """One simulated device walked SECONDS through every stage; its subject's id."""
    reports = demo.run(
        stack, tmp_path_factory.mktemp("research"), devices=1, seconds=SECONDS,
        prefix="research", progress=print,
    )  # fmt: skip
    assert reports[0].complete and reports[0].valid_cycles >= 20, reports
    return reports[0], demo.subject_of(reports[0].device_id)


def _connect(stack, **kw):
    s = stack.influx_settings()
    return connect(s.url, s.database, username=s.username, password=s.password, token=s.token, **kw)


def _us(times: pd.Series) -> np.ndarray:
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy()


def test_research__subjects_tasks_sessions(stack, walked) -> None:
    report, subject = walked
    r = _connect(stack)
    assert subject in r.subjects()
    assert r.tasks(subject) == [TASK]
    sessions = r.sessions(subject=subject)
    assert len(sessions) == 1
    row = sessions.iloc[0]
    assert (row.device, row.placement, row.side, row.task) == (
        report.device_id,
        "foot",
        "left",
        TASK,
    )
    assert _us(sessions["start"])[0] == report.first_us


def test_get_cycles__shape_and_values_equal_segment_on_the_same_raw(stack, walked) -> None:
    report, subject = walked
    r = _connect(stack)
    data, names = r.get_cycles(subject, TASK)
    table = r.cycles_table(subject, TASK, valid_only=True)
    assert data.shape == (report.valid_cycles, 150, 6) == (len(table), 150, 6)
    assert names[4] == "foot_angular_velocity_ml_ipsi_rad_s"
    # segment() on every raw sample of the device, in the ingest's stream order.
    session = r.sessions(subject=subject).iloc[0]
    raw = r.get_raw(report.device_id, session.start, session.end)
    assert len(raw) == report.samples_sent
    # The stream saw every sample once, in time order; each cycle's first sample is dated
    # with the device's own time of that sample (which drifts from the nominal grid).
    times, rate = _us(raw["time"]), float(table["rate_hz"].iloc[0])
    assert (np.diff(times) > 0).all()
    first = np.floor(table["start_s"].to_numpy() * rate).astype(int)
    np.testing.assert_array_equal(table["first_us"].to_numpy(np.int64), times[first])
    expected = segment(raw[list(CHANNELS)].to_numpy(), rate, "foot")
    np.testing.assert_allclose(expected.valid_cycles["start"], table["start_s"], atol=1e-9)
    np.testing.assert_allclose(data, expected.normalized, rtol=0, atol=1e-9)
    # channels= picks and orders features, by channel or variable name.
    picked, picked_names = r.get_cycles(subject, TASK, channels=["gy", names[2]])
    assert picked_names == [names[4], names[2]]
    np.testing.assert_array_equal(picked, data[:, :, [4, 2]])


def test_get_cycles__chunked_over_a_span_larger_than_one_chunk(stack, walked) -> None:
    _, subject = walked
    whole = _connect(stack, chunk=timedelta(hours=1))
    chunked = _connect(stack, chunk=timedelta(seconds=7))
    a, _ = whole.get_cycles(subject, TASK)
    before = chunked.queries
    b, _ = chunked.get_cycles(subject, TASK)
    # One session query, then per 7-s window one cycles query and one raw query.
    windows = -(-SECONDS // 7)
    assert chunked.queries - before >= 1 + 2 * (windows - 1)
    np.testing.assert_array_equal(a, b)
    raw_whole = whole.get_raw(*_raw_span(whole, subject))
    raw_chunked = chunked.get_raw(*_raw_span(chunked, subject))
    pd.testing.assert_frame_equal(raw_whole, raw_chunked)


def _raw_span(r, subject):
    s = r.sessions(subject=subject).iloc[0]
    return s.device, s.start, s.end


def test_patterns_rom_events(stack, walked) -> None:
    _, subject = walked
    r = _connect(stack)
    data, names = r.get_cycles(subject, TASK)
    mean, std = r.get_mean_patterns(subject, TASK), r.get_std_patterns(subject, TASK)
    np.testing.assert_allclose(mean[names[4]], data[:, :, 4].mean(axis=0))
    np.testing.assert_allclose(std[names[2]], data[:, :, 2].std(axis=0))
    rom = r.calculate_rom(subject, TASK, by_cycle=True)
    np.testing.assert_allclose(rom[names[4]], np.ptp(data[:, :, 4], axis=1))
    overall = r.calculate_rom(subject, TASK, by_cycle=False)
    assert overall[names[4]] == pytest.approx(data[:, :, 4].max() - data[:, :, 4].min())
    events = r.get_events(subject, TASK)
    table = r.cycles_table(subject, TASK)
    assert set(events["kind"]) == {"IC", "FC"}
    # Every cycle opens on a stored initial contact.
    ics = _us(events[events["kind"] == "IC"]["time"])
    assert np.isin(_us(table["time"]), ics).all()


def _cli(stack, *args):
    env = {**os.environ, **stack.env()}
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def test_export__read_back_with_pandas(stack, walked, tmp_path) -> None:
    _, subject = walked
    phase, timed = tmp_path / "study_phase.parquet", tmp_path / "study_time.parquet"
    done = _cli(stack, "export", "--subject", subject, "--task", TASK, "--out", str(phase),
                "--time-out", str(timed), "--chunk-minutes", "0.2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    data, names = _connect(stack).get_cycles(subject, TASK)
    df = pd.read_parquet(phase)
    n = data.shape[0]
    assert len(df) == 150 * n
    assert list(df.columns) == [
        "subject", "task", "task_id", "task_info", "step", "phase_ipsi", *names
    ]  # fmt: skip
    assert (df["subject"] == subject).all() and (df["task"] == TASK).all()
    assert (df["task_id"] == TASK).all()
    assert (df.groupby("step").size() == 150).all() and df["step"].nunique() == n
    for _, cycle in df.groupby("step"):
        np.testing.assert_allclose(cycle["phase_ipsi"], np.arange(150) / 149 * 100)
    np.testing.assert_allclose(df[names].to_numpy().reshape(n, 150, 6), data)

    raw = pd.read_parquet(timed)
    assert len(raw) == SECONDS * 100
    assert list(raw.columns) == ["subject", "task", "task_id", "task_info", "time_s", *names]
    assert raw["time_s"].iloc[0] == 0.0 and raw["time_s"].is_monotonic_increasing


def test_export__unknown_subject_is_one_line_exit_2(stack, walked, tmp_path) -> None:
    done = _cli(stack, "export", "--subject", "NOBODY_AB01", "--task", TASK,
                "--out", str(tmp_path / "x.parquet"))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no sessions of NOBODY_AB01" in done.stderr
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("kind", ["cycles", "session"])
def test_plot__produced_and_not_empty(stack, walked, tmp_path, kind) -> None:
    import matplotlib.image

    _, subject = walked
    out = tmp_path / f"{kind}.png"
    done = _cli(stack, "plot", kind, "--subject", subject, "--task", TASK, "--out", str(out))
    assert done.returncode == 0, done.stderr
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 400 and image.shape[1] > 600
    # Not a blank canvas: many distinct colours (curves, bands, text).
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 50


def test_get_cycles__all_cycles_unknown_subject_and_progress(stack, walked, capsys) -> None:
    report, subject = walked
    r = _connect(stack)
    data, _, table = r.cycles_with_table(subject, TASK, valid_only=False)
    assert len(table) == data.shape[0] == report.cycles
    # Invalid cycles come with their reason; those whose samples are all there are cut.
    assert set(table.loc[~table["valid"], "reason"]) <= {"duration", "outlier", "gap", "nan",
                                                         "device_flag"}  # fmt: skip
    assert np.isfinite(data[table["cut"].to_numpy()]).all()
    with pytest.raises(LookupError, match="no sessions of NOBODY_AB01"):
        r.get_cycles("NOBODY_AB01", TASK)
    # Not a terminal here: no progress bar unless asked for.
    capsys.readouterr()
    r.get_cycles(subject, TASK)
    assert capsys.readouterr().err == ""
    _connect(stack, progress=True).get_cycles(subject, TASK)
    assert f"{subject} {TASK}" in capsys.readouterr().err
