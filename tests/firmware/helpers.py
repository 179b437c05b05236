"""Helpers for the firmware tests: run code under the real MicroPython unix port against the
compiled firmware, a real mosquitto of the test's own, and the cloud's frame decoder.

The broker helper is deliberately local and small (no InfluxDB): these tests kill and
restart it, and must not disturb the session-wide `stack` fixture other rooms share. Its
config is the stack's own (tools/stack/mosquitto.py) plus what a test adds; without
`users` it is anonymous, since these tests are about the firmware, not the accounts
(tests/security tests those, on the stack's brokers).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from gaitlink.cloud.protocol.frame import decode
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import configure
from gaitlink.tools.device import find_tool
from gaitlink.tools.stack import find_binary
from gaitlink.tools.stack.mosquitto import render_config
from tests.cloud.frames import encode_frame as encode_counts

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
MOSQUITTO = str(find_binary("mosquitto"))


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
        # The stack's broker config (loopback, persistence, autosave, queue size, user),
        # then what this test adds; mosquitto takes the last value of a repeated option.
        passwd = home / "passwd" if users else None
        lines = render_config(
            port, home, home / "mosquitto.log", "127.0.0.1", password_file=passwd, acl_file=None
        ).splitlines()
        if users and passwd is not None:
            for i, (user, password) in enumerate(users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(
                    [str(find_binary("mosquitto_passwd")), *create,
                     "-b", str(passwd), user, password],
                    check=True, capture_output=True,
                )  # fmt: skip
        lines += extra
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


# --- frames on the host side: the project's test encoder and the cloud's decoder -------


def encode_frame(f: dict, samples: list[list[int]]) -> bytes:
    """The host-side v1 encoder (tests/cloud/frames.py), for comparisons with the firmware's."""
    return encode_counts(
        np.array(samples, dtype=np.int16).reshape(-1, 6),
        **{k: f[k] for k in ("flags", "boot_id", "seq", "t0_us", "period_us", "quality")},
        acc_scale=f["acc_scale"],
        gyro_scale=f["gyro_scale"],
    )


def decode_frame(data: bytes) -> dict:
    """Decode one firmware frame with the cloud's decoder: the cross-check the golden
    vectors stand for. Raises FrameError (naming the reason) on anything the contract forbids.
    """
    frame = decode(data)
    assert frame.channels == 3, "v1 firmware sends accelerometer and gyroscope"
    return {
        "flags": frame.flags,
        "boot_id": frame.boot_id,
        "seq": frame.seq,
        "t0_us": frame.t0_us,
        "period_us": frame.period_us,
        "n": frame.n_samples,
        "acc_scale": frame.acc_scale,
        "gyro_scale": frame.gyro_scale,
        "quality": frame.quality,
        "samples": frame.counts.tolist(),
    }


# --- a paho subscriber that records everything under gaitlink/v1/ -----------------------


class Subscriber:
    """A real paho-mqtt client recording (topic, payload, retain) of every message."""

    def __init__(
        self,
        port: int | Endpoint,
        topic: str = "gaitlink/v1/#",
        client_id: str = "",
        clean: bool = True,
    ) -> None:
        # An Endpoint carries a login (and TLS): a broker with accounts, e.g. the stack's.
        endpoint = port if isinstance(port, Endpoint) else Endpoint("127.0.0.1", port)
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
        configure(self.client, endpoint)
        self.client.connect(endpoint.host, endpoint.port, keepalive=10)
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
