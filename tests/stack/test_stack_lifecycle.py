"""up / status / down on real processes, through the CLI and the Python API."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from gaitlink.tools.cli import main
from gaitlink.tools.stack import SITE_BROKER, Stack, StackError, free_ports, state
from gaitlink.tools.stack.process import identify


def _cli(state_dir: Path, *args: str) -> int:
    return main(["stack", *args, "--state-dir", str(state_dir)])


def test_up_status_down__cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, cloud, influx = free_ports(3)
    ports = ["--site-port", str(site), "--cloud-port", str(cloud), "--influx-port", str(influx)]
    try:
        assert _cli(tmp_path, "up", *ports) == 0
        out = capsys.readouterr().out
        assert f"export GAITLINK_SITE_MQTT_URL=mqtt://127.0.0.1:{site}" in out
        assert f"export GAITLINK_INFLUX_URL=http://127.0.0.1:{influx}" in out

        # Ports left out come from stack.json, so a bare `status` sees the same stack.
        assert _cli(tmp_path, "status", "--json") == 0
        statuses = json.loads(capsys.readouterr().out)
        assert {s["name"]: s["state"] for s in statuses} == {
            "influxdb": "running",
            "cloud_broker": "running",
            "site_broker": "running",
        }
        assert {s["address"] for s in statuses} == {
            f"mqtt://127.0.0.1:{site}",
            f"mqtts://127.0.0.1:{cloud}",
            f"http://127.0.0.1:{influx}",
        }
        pids = [s["pid"] for s in statuses]
    finally:
        assert _cli(tmp_path, "down") == 0
    # Reaped, not left as zombies: down waits for each process to be gone.
    assert [identify(pid) for pid in pids] == [None, None, None]
    assert _cli(tmp_path, "status") == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[-3:]] == ["stopped"] * 3


def test_up__idempotent(fresh_stack: Stack) -> None:
    before = {s.name: s.pid for s in fresh_stack.status()}
    again = Stack(fresh_stack.state_dir)  # a second invocation: no ports given
    assert again.up() == {
        "influxdb": "already running",
        "cloud_broker": "already running",
        "site_broker": "already running",
    }
    assert {s.name: s.pid for s in again.status()} == before
    assert again.site_url == fresh_stack.site_url


def test_up__refuses_other_ports_while_running(fresh_stack: Stack) -> None:
    (other,) = free_ports(1)
    with pytest.raises(StackError, match=r"already runs .* Run `gaitlink stack down` first"):
        Stack(fresh_stack.state_dir, site_port=other).up()
    assert all(s.state == "running" for s in fresh_stack.status())


def test_down__twice_is_harmless(fresh_stack: Stack) -> None:
    assert set(fresh_stack.down().values()) == {"stopped"}
    assert set(fresh_stack.down().values()) == {"not running"}


def test_status__frozen_broker_is_unhealthy(
    fresh_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stopped (SIGSTOP) broker still owns its pid and port but answers no CONNECT.
    identity = state.load(fresh_stack.state_dir).processes[SITE_BROKER]
    assert fresh_stack.kill(SITE_BROKER, signal.SIGSTOP)
    try:
        by_name = {s.name: s for s in fresh_stack.status()}
        assert by_name[SITE_BROKER].state == "unhealthy"
        assert by_name[SITE_BROKER].pid == identity.pid
        assert _cli(fresh_stack.state_dir, "status") == 1
        assert "unhealthy" in capsys.readouterr().out
    finally:
        fresh_stack.kill(SITE_BROKER, signal.SIGCONT)
    assert {s.state for s in fresh_stack.status()} == {"running"}
