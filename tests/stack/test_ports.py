"""Picked ports are free, distinct, and outside the kernel's ephemeral range (where any
outgoing connection could take one before its server binds it)."""

import socket
from pathlib import Path

from gaitlink.tools.stack import free_ports


def test_free_ports__distinct_bindable_and_below_the_ephemeral_range():
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert all(10_000 <= p < low for p in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_free_ports__skips_a_port_already_bound(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        picks = iter([busy, busy, busy + 1 if busy + 1 < 65536 else busy - 1])
        monkeypatch.setattr("gaitlink.tools.stack.ports.random.randrange", lambda a, b: next(picks))
        monkeypatch.setattr("gaitlink.tools.stack.ports._ephemeral_start", lambda: 65_000)
        (port,) = free_ports(1)
    assert port != busy
