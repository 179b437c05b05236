"""Helpers for the firmware tests: run code under the real MicroPython unix port against the
compiled firmware, a real mosquitto of the test's own, and an independent frame decoder.

The broker helper is deliberately local and small (no InfluxDB): these tests kill and
restart it, and must not disturb the session-wide `stack` fixture other rooms share.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path

from tools.device import find_tool

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

HDR = struct.Struct("<2sBBIIqIHBBffHH")


class MicroPythonError(AssertionError):
    pass


def run_mpy(
    build: Path, code: str, *, heap: str = "2m", cwd: Path | None = None, timeout: float = 60
) -> list:
    """Run `code` under MicroPython with the firmware importable; JSON lines it printed."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.py"
        script.write_text(code)
        res = subprocess.run(
            [find_tool("micropython"), "-X", f"heapsize={heap}", str(script)],
            cwd=cwd or tmp,
            env=dict(os.environ, MICROPYPATH=f".frozen:{build}"),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if res.returncode:
        raise MicroPythonError(f"micropython exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith(("{", "["))]


# --- a broker of the test's own ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A real mosquitto on 127.0.0.1:port with persistence in `home`."""

    def __init__(
        self,
        home: Path,
        port: int,
        users: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.home = home
        self.port = port
        self.proc: subprocess.Popen | None = None
        home.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {port} 127.0.0.1",
            "allow_anonymous false" if users else "allow_anonymous true",
            "persistence true",
            f"persistence_location {home}/",
            "autosave_interval 1",  # bounds what kill -9 loses: sessions survive a crash
            "max_queued_messages 100000",
            f"log_dest file {home}/mosquitto.log",
            *extra,
        ]
        if users:
            passwd = home / "passwd"
            for i, (user, password) in enumerate(users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(
                    [shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", *create,
                     "-b", str(passwd), user, password],
                    check=True, capture_output=True,
                )  # fmt: skip
            lines.append(f"password_file {passwd}")
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf = home / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on {self.port}: {self.log_tail()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL ends a SIGSTOPped broker too, without letting it run
            self.proc.wait()

    def log_tail(self) -> str:
        log = self.home / "mosquitto.log"
        return log.read_text()[-2000:] if log.exists() else ""


# --- an independent decoder (docs/protocol.md section 2) ---------------------------------


def encode_frame(f: dict, samples: list[list[int]]) -> bytes:
    """Independent v1 encoder (struct + zlib), for comparisons with the firmware's."""
    body = HDR.pack(
        b"GL", 1, f["flags"], f["boot_id"], f["seq"], f["t0_us"], f["period_us"], len(samples),
        3, 0, f["acc_scale"], f["gyro_scale"], f["quality"], 0,
    ) + b"".join(struct.pack("<6h", *s) for s in samples)  # fmt: skip
    return body + struct.pack("<I", zlib.crc32(body))


def decode_frame(data: bytes) -> dict:
    """Decode and check one v1 frame; AssertionError on anything the contract forbids."""
    assert len(data) >= 44, "short"
    (magic, version, flags, boot_id, seq, t0, period, n, channels, _r1, acc, gyro, quality, _r2) = (
        HDR.unpack_from(data)
    )
    assert magic == b"GL" and version == 1
    assert len(data) == 44 + 12 * n, "bad_length"
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    assert crc == zlib.crc32(data[:-4]), "bad_crc"
    assert 1 <= n <= 200 and period > 0 and channels == 3 and acc > 0 and gyro > 0
    samples = [list(struct.unpack_from("<6h", data, 40 + 12 * i)) for i in range(n)]
    return {
        "flags": flags,
        "boot_id": boot_id,
        "seq": seq,
        "t0_us": t0,
        "period_us": period,
        "n": n,
        "acc_scale": acc,
        "gyro_scale": gyro,
        "quality": quality,
        "samples": samples,
    }


# --- a paho subscriber that records everything under gaitlink/v1/ -----------------------


class Subscriber:
    """A real paho-mqtt client recording (topic, payload, retain) of every message."""

    def __init__(
        self, port: int, topic: str = "gaitlink/v1/#", client_id: str = "", clean: bool = True
    ) -> None:
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError("subscription not acknowledged")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return [m for m in self.messages if m[0].endswith(suffix)]

    def frames(self, device_id: str) -> list[dict]:
        return [decode_frame(p) for _t, p, _r in self.on(f"/{device_id}/imu")]

    def wait_for(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
