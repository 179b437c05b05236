"""`down` stops only processes this stack started; a stale stack.json must not kill others."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gaitlink.tools.stack import SITE_BROKER, Stack, state
from gaitlink.tools.stack.process import identify, is_running


@pytest.fixture
def foreign_process() -> Iterator[subprocess.Popen[bytes]]:
    """Some other program that happens to own a pid stack.json still remembers."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _record_as_ours(state_dir: Path, pid: int, *, start_time_shift: int) -> None:
    identity = identify(pid)
    assert identity is not None
    # A pid reused after a crash: same pid, but the process started at another time.
    stale = replace(identity, start_time=identity.start_time + start_time_shift)
    record = state.load(state_dir)
    record.processes[SITE_BROKER] = stale
    state.save(state_dir, record)


def test_down__leaves_foreign_process_alone(
    tmp_path: Path, foreign_process: subprocess.Popen[bytes]
) -> None:
    _record_as_ours(tmp_path, foreign_process.pid, start_time_shift=-1)
    outcome = Stack(tmp_path).down(timeout=1.0)
    assert outcome[SITE_BROKER] == "not running"
    assert foreign_process.poll() is None
    assert SITE_BROKER not in state.load(tmp_path).processes  # the stale entry is gone


def test_status__foreign_process_is_not_ours(
    tmp_path: Path, foreign_process: subprocess.Popen[bytes]
) -> None:
    _record_as_ours(tmp_path, foreign_process.pid, start_time_shift=1)
    by_name = {s.name: s for s in Stack(tmp_path).status()}
    assert by_name[SITE_BROKER].state == "stopped"
    assert by_name[SITE_BROKER].pid is None


def test_kill__leaves_foreign_process_alone(
    tmp_path: Path, foreign_process: subprocess.Popen[bytes]
) -> None:
    _record_as_ours(tmp_path, foreign_process.pid, start_time_shift=-1)
    assert Stack(tmp_path).kill(SITE_BROKER) is False
    assert foreign_process.poll() is None


def test_down__stops_its_own_process(fresh_stack: Stack) -> None:
    identity = state.load(fresh_stack.state_dir).processes[SITE_BROKER]
    assert is_running(identity)
    assert fresh_stack.down()[SITE_BROKER] == "stopped"
    assert not is_running(identity)
