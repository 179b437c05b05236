"""Recording sessions: LocoHub subject ids and tasks, the registry, and the CLI end to end."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.registry.db import MIGRATIONS, RegistryError, open_registry
from gaitlink.cloud.registry.sessions import (
    LOCOHUB_TASKS,
    POPULATIONS,
    SessionError,
    SessionStore,
    check_subject,
    check_task,
)
from gaitlink.tools.stack import influx_query

_SUBJECT = re.compile(r"[A-Z][A-Z0-9]{1,9}_(" + "|".join(POPULATIONS) + r")(0[1-9]|[1-9][0-9])")


@given(
    dataset=st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True),
    pop=st.sampled_from(sorted(POPULATIONS)),
    number=st.integers(1, 99),
)
def test_check_subject__valid(dataset, pop, number) -> None:
    subject = f"{dataset}_{pop}{number:02d}"
    assert check_subject(subject) == subject


@given(st.text(max_size=24))
def test_check_subject__anything_else_is_refused_with_a_reason(text) -> None:
    if _SUBJECT.fullmatch(text):
        assert check_subject(text) == text
    else:
        with pytest.raises(SessionError, match="subject id"):
            check_subject(text)


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("lab1_ab01", "upper case"),
        ("LAB1AB01", "no '_'"),
        ("1LAB_AB01", "dataset"),
        ("LAB1_XY01", "not a LocoHub code"),
        ("LAB1_AB1", "two digits"),
        ("LAB1_AB00", "two digits"),
        ("LAB1_AB001", "two digits"),
    ],
)
def test_check_subject__invalid_names_the_reason(subject, reason) -> None:
    with pytest.raises(SessionError, match=re.escape(reason)):
        check_subject(subject)


@given(st.text(max_size=56))
def test_check_task__accepts_exactly_snake_case_names(text) -> None:
    if re.fullmatch(r"[a-z][a-z0-9_]{0,47}", text):
        assert check_task(text) == text
    else:
        with pytest.raises(SessionError, match="snake_case"):
            check_task(text)


@pytest.mark.parametrize("task", [*LOCOHUB_TASKS, "treadmill_6min", "tug_test"])
def test_check_task__valid(task) -> None:
    assert check_task(task) == task


@pytest.mark.parametrize("task", ["", "Level_Walking", "level walking", "1run", "x" * 49])
def test_check_task__invalid(task) -> None:
    with pytest.raises(SessionError, match="snake_case"):
        check_task(task)


def _store(tmp_path) -> SessionStore:
    return SessionStore(open_registry(tmp_path / "registry.sqlite3"))


def _start(store, **kw):
    args = dict(
        subject="LAB1_AB01", task="level_walking", device="d-01", placement="foot",
        side="left", start_us=1_000_000,
    )  # fmt: skip
    return store.start(**{**args, **kw})


def test_registry__is_wal_owner_only_and_migrated(tmp_path) -> None:
    conn = open_registry(tmp_path / "r" / "registry.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert stat.S_IMODE(os.stat(tmp_path / "r" / "registry.sqlite3").st_mode) == 0o600
    # Re-opening applies nothing twice.
    open_registry(tmp_path / "r" / "registry.sqlite3").close()


def test_registry__newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "registry.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RegistryError, match="upgrade gaitlink"):
        open_registry(path)


def test_session_store__start_stop_list(tmp_path) -> None:
    store = _store(tmp_path)
    s = _start(store)
    assert s.open and store.open_for("d-01") == s
    with pytest.raises(SessionError, match="already in open session"):
        _start(store, subject="LAB1_AB02")
    closed = store.stop(s.id, end_us=2_000_000)
    assert closed.end_us == 2_000_000 and not closed.open
    with pytest.raises(SessionError, match="already stopped"):
        store.stop(s.id, end_us=3_000_000)
    _start(store, subject="LAB1_AB02", task="stair_ascent", start_us=5_000_000)
    assert [x.subject for x in store.list()] == ["LAB1_AB01", "LAB1_AB02"]
    assert [x.task for x in store.list(subject="LAB1_AB02")] == ["stair_ascent"]
    assert store.list(open_only=True)[0].subject == "LAB1_AB02"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"placement": "wrist"}, "placement"),
        ({"side": ""}, "needs --side"),
        ({"placement": "lower_back"}, "no side"),
        ({"device": "Bad Device"}, "device id"),
        ({"task_info": "speed 1.2"}, "key:value"),
    ],
)
def test_session_store__bad_requests_are_refused(tmp_path, kw, reason) -> None:
    store = _store(tmp_path)
    with pytest.raises(SessionError, match=re.escape(reason)):
        _start(store, **kw)
    assert store.list() == []


def test_session_store__cannot_end_before_start(tmp_path) -> None:
    store = _store(tmp_path)
    s = _start(store)
    with pytest.raises(SessionError, match="before it started"):
        store.stop(s.id, end_us=s.start_us)


def _cli(stack, registry, *args):
    env = {**os.environ, **stack.env()}
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "session", *args, "--registry", str(registry)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_session_cli__start_stop_list_reach_influx_and_bad_ids_are_refused(stack, tmp_path):
    registry = tmp_path / "registry.sqlite3"
    refused = _cli(stack, registry, "start", "--subject", "lab9_ab01", "--task", "level_walking",
                   "--device", "cli-01", "--placement", "foot", "--side", "left")  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("must be upper case (LAB9_AB01)"), refused.stderr
    assert "Traceback" not in refused.stderr

    started = _cli(stack, registry, "start", "--subject", "LAB9_AB01", "--task", "stair_ascent",
                   "--task-info", "steps:12", "--device", "cli-01", "--placement", "shank",
                   "--side", "right", "--at", "2026-05-01T10:00:00Z")  # fmt: skip
    assert started.returncode == 0, started.stderr
    session_id = re.search(r"session (\d+) started", started.stdout).group(1)
    stopped = _cli(stack, registry, "stop", session_id, "--at", "2026-05-01T10:05:00+00:00")
    assert stopped.returncode == 0, stopped.stderr
    listed = _cli(stack, registry, "list", "--subject", "LAB9_AB01")
    assert "LAB9_AB01" in listed.stdout and "2026-05-01T10:05:00+00:00" in listed.stdout

    rows = influx_query(
        stack, "SELECT * FROM session WHERE subject = 'LAB9_AB01' AND task = 'stair_ascent'",
        epoch="u",
    )  # fmt: skip
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["time"] == 1_777_629_600_000_000 and row["end_us"] == row["time"] + 300_000_000
    assert (row["device"], row["placement"], row["side"]) == ("cli-01", "shank", "right")
    assert row["task_info"] == "steps:12" and row["session_id"] == int(session_id)

    bad_time = _cli(stack, registry, "stop", session_id, "--at", "yesterday")
    assert bad_time.returncode == 2 and "ISO 8601" in bad_time.stderr
