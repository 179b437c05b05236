"""The ingest as a real process with API keys, and small clients for its HTTP API."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitlink.cloud.api.keystore import KeyFile
from gaitlink.hardware.walker import synthesize
from gaitlink.tools import services
from gaitlink.tools.stack import Stack, free_port
from tests.cloud.frames import encode_frame

ACC_SCALE = 16 * 9.80665 / 32768
GYRO_SCALE = 2000 * np.pi / 180 / 32768
SCALES = np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)
N = 50  # samples per frame
PERIOD_US = 10_000


@dataclass
class Api:
    port: int
    service: services.Service
    keys: dict[str, str] = field(default_factory=dict)

    def call(self, path: str, *, key: str | None = None, method: str = "GET", body=None,
             headers: dict | None = None) -> tuple[int, dict, object]:  # fmt: skip
        """(status, headers, body as JSON or text); `key` names one of self.keys."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {self.keys.get(key, key)}"
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        if data is not None:
            sent["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            raw = resp.read().decode()
            got = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed = (
            json.loads(raw) if got.get("content-type", "").startswith("application/json") else raw
        )
        return resp.status, got, parsed

    def ok(self, path: str, key: str = "researcher", **kwargs) -> dict:
        status, _, body = self.call(path, key=key, **kwargs)
        assert status == 200, (status, body)
        return body


@contextmanager
def api_service(stack: Stack, state_dir: Path, *extra: str) -> Iterator[Api]:
    """The ingest with an admin, a researcher and a device key (for `api-env`)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key_file = KeyFile(services.api_keys_file(state_dir))
    keys = {
        "admin": key_file.create("test admin", "admin"),
        "researcher": key_file.create("test researcher", "researcher"),
        "device": key_file.create("test device", "device", device="api-env"),
    }
    port = free_port()
    service = services.ingest(stack, state_dir, http_port=port, extra=extra)
    service.start()
    try:
        yield Api(port, service, keys)
    finally:
        service.stop()


def walking_frames(device: str, t0_us: int, seconds: float, *, boot_id: int = 7, seed: int = 3):
    """(topic, payload) frames of a synthetic walk, and the SI samples they carry."""
    walk = synthesize("foot", 1e6 / PERIOD_US, seconds, cadence_spm=55.0, seed=seed)
    counts = np.round(walk.samples / SCALES).astype(np.int16)
    counts = counts[: len(counts) // N * N]
    messages = [
        (
            f"gaitlink/v1/{device}/imu",
            encode_frame(
                counts[i * N : (i + 1) * N], boot_id=boot_id, seq=i,
                t0_us=t0_us + i * N * PERIOD_US, period_us=PERIOD_US,
                acc_scale=ACC_SCALE, gyro_scale=GYRO_SCALE,
            ),
        )
        for i in range(len(counts) // N)
    ]  # fmt: skip
    return messages, counts * SCALES.astype(np.float32)


def recent_t0_us(seconds_ago: float) -> int:
    # Whole seconds, so 1 s aggregation buckets line up with the test's own sums.
    return (int(time.time()) - int(seconds_ago)) * 1_000_000
