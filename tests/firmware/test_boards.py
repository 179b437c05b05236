"""Both board profiles in hardware/boards run the unchanged firmware against their own
simulated IMU: the DevKitC's MPU-6050 and the LOLIN D32's MPU-6500 on another I2C bus, both
read through the FIFO; and a FIFO-less sensor (`"fifo": false`) is polled without ever
writing a sample twice."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gaitlink.cloud.protocol.frame import QUALITY_OVERRUN as OVERRUN
from gaitlink.hardware.sim import motion
from gaitlink.tools.device import start_device
from tests.firmware.helpers import Subscriber

BOARDS = Path(__file__).resolve().parents[2] / "hardware" / "boards"
G = 9.80665


def _profile(name: str) -> dict:
    return json.loads((BOARDS / f"{name}.json").read_text())


def _truth(seed: int, k: int, rate: int) -> list[int]:
    v = motion.sample(seed, k, rate)
    scales = [G / 4096.0] * 3 + [math.pi / 180 / 32.8] * 3
    return [max(-32768, min(32767, round(x / s))) for x, s in zip(v, scales, strict=True)]


def test_board_profiles__name_their_parts_and_pins():
    names = sorted(p.stem for p in BOARDS.glob("*.json"))
    assert names == ["esp32-devkitc", "lolin-d32-mpu6500"]
    for name in names:
        p = _profile(name)
        assert p["name"] == name and p["imu"]["part"] in ("MPU-6050", "MPU-6500")
        assert {"id", "sda", "scl", "freq"} <= set(p["i2c"]) and "fifo" in p["imu"]
    a, b = _profile(names[0]), _profile(names[1])
    assert a["i2c"] != b["i2c"] and a["imu"]["part"] != b["imu"]["part"]


@pytest.mark.parametrize(
    ("board", "fifo", "rate"),
    [("esp32-devkitc", True, 200), ("lolin-d32-mpu6500", True, 500), ("esp32-devkitc", False, 50)],
)
def test_device_run__board_streams_true_samples(mosquitto, tmp_path, board, fifo, rate):
    seed, device, n = 8, f"gl-board-{rate}", rate * 3
    profile = _profile(board)
    profile["imu"]["fifo"] = fifo
    with Subscriber(mosquitto.port) as sub:
        dev = start_device(
            device, "127.0.0.1", mosquitto.port, seed=seed, rate_hz=rate, max_samples=n,
            state_dir=tmp_path / "devices", extra={"board": profile},
        )  # fmt: skip
        with dev:
            summary = dev.wait(timeout=60)
        assert sub.wait_for(lambda: len(sub.frames(device)) >= summary["frames"], 10)
        frames = sorted({f["seq"]: f for f in sub.frames(device)}.values(), key=lambda f: f["seq"])

    assert summary["imu_part"] == profile["imu"]["part"] and summary["fifo"] is fifo
    assert summary["samples"] == n and summary["dropped"] == 0
    # every framed sample is a true sample k, k strictly increasing: a missed one (poll
    # mode only) is a counted gap flagged OVERRUN, never a repeat. In poll mode the index
    # after a gap comes from read times, which a loaded host blurs (a stall of the host
    # can hide how many samples passed): there the frame is found in the truth anywhere
    # after the last one, and its time must not overlap the last one's.
    # The polled sensor's clock starts at the first data register read, which may come a
    # host stall before the sampler's first read: there the first frame is found in the
    # truth too (within its first second), not assumed to start at sample 0.
    k, prev = 0, None
    truth = [_truth(seed, j, rate) for j in range(n + summary["lost"] + 2 * rate)]
    for f in frames:
        if prev is not None:
            end = prev["t0_us"] + prev["n"] * prev["period_us"]
            assert f["t0_us"] > end - prev["period_us"]
        if (prev is None or f["quality"] & OVERRUN) and not fifo:
            m = f["n"]
            last = len(truth) if prev is not None else rate + 1
            found = [j for j in range(k, last) if truth[j : j + m] == f["samples"]]
            assert found, (f["seq"], k)  # true samples, none framed before
            k = found[0]
        elif f["quality"] & OVERRUN:
            assert not fifo, f["seq"]
        assert f["samples"] == truth[k : k + f["n"]], (f["seq"], k)
        k += f["n"]
        prev = f
    if fifo:
        assert k == n and summary["lost"] == 0 and summary["fifo_overflows"] == 0
