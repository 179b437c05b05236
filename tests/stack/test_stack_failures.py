"""A component that fails to start or to answer: the error says why, with its log."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gaitlink.tools.stack import INFLUXDB, SITE_BROKER, ComponentFailed, Stack


def test_up__component_exits_at_start(tmp_path: Path) -> None:
    # influxd cannot create its meta dir where a file stands, and exits.
    (tmp_path / INFLUXDB).mkdir()
    (tmp_path / INFLUXDB / "meta").write_text("not a directory")
    stack = Stack.on_free_ports(tmp_path, timeout=10)
    with pytest.raises(ComponentFailed) as raised:
        stack.up()
    message = str(raised.value)
    assert "influxdb" in message and "exited during start-up" in message
    assert "Last lines of" in message and "not a directory" in message  # from influxd.log
    assert {s.state for s in stack.status()} == {"stopped"}


def test_up__unhealthy_component_times_out(fresh_stack: Stack) -> None:
    assert fresh_stack.kill(SITE_BROKER, signal.SIGSTOP)
    try:
        with pytest.raises(ComponentFailed, match=r"did not become healthy .* within 1 s"):
            Stack(fresh_stack.state_dir, timeout=1).up()
    finally:
        fresh_stack.kill(SITE_BROKER, signal.SIGCONT)
    # A component this `up` did not start is not stopped by its failure.
    assert {s.state for s in fresh_stack.status()} == {"running"}
