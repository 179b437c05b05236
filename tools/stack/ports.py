"""Loopback ports: picking free ones and checking that a wanted one is free."""

from __future__ import annotations

import socket
from contextlib import ExitStack

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    # Hold every socket open until all are bound, so one call never hands out a port twice.
    with ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


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
