"""Loopback ports: picking free ones and checking that a wanted one is free."""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

HOST = "127.0.0.1"
_LOWEST = 10_000  # above the well-known and most registered service ports


def free_ports(count: int) -> list[int]:
    # A port picked here is bound by a server a moment (or, for a starting ingest, seconds)
    # later. Ports from the kernel's ephemeral range could meanwhile be taken by any
    # outgoing connection on the machine ("address already in use" once, in a test run), so
    # pick below that range, where only another server's explicit choice can collide.
    # Hold every socket open until all are bound, so one call never hands out a port twice.
    top = _ephemeral_start()
    with ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            port = random.randrange(_LOWEST, top) if top > _LOWEST + 1000 else 0
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            ports.append(sock.getsockname()[1])
        return ports


def _ephemeral_start() -> int:
    # Linux names its range; elsewhere (or unreadable) let the kernel choose (port 0).
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    return free_ports(1)[0]


def port_is_free(port: int, host: str = HOST) -> bool:
    # SO_REUSEADDR as the servers themselves use it: a port whose old connections sit in
    # TIME_WAIT after a restart is free for them, so it must count as free here too.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
