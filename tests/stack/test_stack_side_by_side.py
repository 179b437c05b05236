"""Two stacks with different state dirs run together without touching each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gaitlink.tools.stack import PortInUse, Stack, free_ports, influx_query, influx_write


def test_two_stacks__independent(fresh_stack: Stack, tmp_path: Path) -> None:
    other = Stack.on_free_ports(tmp_path / "other")
    try:
        assert set(other.up().values()) == {"started"}
        pids = {s.pid for s in fresh_stack.status()} | {s.pid for s in other.status()}
        assert len(pids) == 6
        urls = {fresh_stack.site_url, fresh_stack.cloud_url, fresh_stack.influx_url}
        assert urls.isdisjoint({other.site_url, other.cloud_url, other.influx_url})

        influx_write(other, "imu,device=only-other ax=1 1")
        assert influx_query(fresh_stack, "SELECT * FROM imu") == []
        assert len(influx_query(other, "SELECT * FROM imu")) == 1
    finally:
        other.down()
    assert all(s.state == "running" for s in fresh_stack.status())


def test_up__port_taken_by_another_stack(fresh_stack: Stack, tmp_path: Path) -> None:
    cloud, influx, rpc = free_ports(3)
    clash = Stack(
        tmp_path / "clash",
        site_port=fresh_stack.site_port,
        cloud_port=cloud,
        influx_port=influx,
        influx_rpc_port=rpc,
    )
    taken = re.escape(f"127.0.0.1:{fresh_stack.site_port} is already in use")
    with pytest.raises(PortInUse, match=taken):
        clash.up()
    # Whatever the failed up had started before the clash is stopped again.
    assert {s.state for s in clash.status()} == {"stopped"}
    assert all(s.state == "running" for s in fresh_stack.status())
