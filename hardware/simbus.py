"""Serve the register-level sensor simulator (hardware/sim) to one simulated device.

The firmware under the MicroPython unix port talks to its sensors through
`sim.board.RemoteI2C`, a socket to this process, so that the simulator's code and state
live here and not in the device's 100 kB heap (an ESP32 carries no simulator either), and
its CPU time is not counted as the firmware's. The models are the same files the firmware
can also load in-process (tests of drivers do); the bus is built from the device.json the
device runs with (seed, addresses, board profile, `sim` options and fault schedule).

    python -m gaitlink.hardware.simbus DEVICE_JSON PORT

prints "ready" once it listens on 127.0.0.1:PORT and serves one connection until it closes.
"""

from __future__ import annotations

import json
import socket
import struct
import sys

from gaitlink.hardware.sim.i2c import make_bus

_HEADER = struct.Struct("<BBBH")


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn: socket.socket, bus) -> None:
    """Answer bus transactions until the device closes the connection."""
    while True:
        try:
            op, addr, reg, n = _HEADER.unpack(_recv_exactly(conn, _HEADER.size))
            data = _recv_exactly(conn, n) if op == ord("W") else b""
        except (EOFError, ConnectionError):
            return
        try:
            if op == ord("W"):
                bus.writeto_mem(addr, reg, data)
                reply = b"\x00"
            else:
                buf = bytearray(n)
                bus.readfrom_mem_into(addr, reg, buf)
                reply = b"\x00" + bytes(buf)
        except OSError as exc:
            reply = bytes([exc.args[0] & 0xFF or 5])
        conn.sendall(reply)


def main(argv: list[str] | None = None) -> int:
    device_json, port = (argv or sys.argv[1:])[:2]
    with open(device_json, encoding="utf-8") as f:
        cfg = json.load(f)
    options = dict(cfg.get("sim") or {})
    bus = make_bus(
        cfg.get("seed", 1),
        cfg.get("imu_addr", 0x68),
        cfg.get("env_addr", 0x76),
        options,
        cfg.get("board"),
    )
    with socket.create_server(("127.0.0.1", int(port))) as server:
        print("ready", flush=True)
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            serve(conn, bus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
