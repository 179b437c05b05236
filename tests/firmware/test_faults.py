"""The sampler keeps going through what a real board meets: FIFO overflow, bus errors, a
sensor that drops off the bus and comes back, stuck and saturated data, a silent BME280.
Each is counted, flagged in the frames (docs/protocol.md §2.2) and reported in the status,
and every sample that is framed is a true sample of the sensor, at its true time."""

from __future__ import annotations

import json
import math

from gaitlink.cloud.protocol.frame import QUALITY_OVERRUN as OVERRUN
from gaitlink.cloud.protocol.frame import QUALITY_SENSOR_ERROR as SENSOR_ERROR
from gaitlink.cloud.protocol.frame import QUALITY_SENSOR_STUCK as SENSOR_STUCK
from gaitlink.cloud.protocol.messages import parse_status
from gaitlink.hardware.sim import motion
from gaitlink.tools.device import start_device
from tests.firmware.helpers import Subscriber, decode_frame, run_mpy

G = 9.80665


def _truth(seed: int, k: int, rate: int, acc_lsb: float = 4096.0, gyro_lsb: float = 32.8):
    v = motion.sample(seed, k, rate)
    scales = [G / acc_lsb] * 3 + [math.pi / 180 / gyro_lsb] * 3
    return [max(-32768, min(32767, round(x / s))) for x, s in zip(v, scales, strict=True)]


def _by_k(frames: list[dict]) -> tuple[dict[int, list[int]], dict[int, int]]:
    # the sensor's sample index of every framed sample (consecutive across frames, and
    # across a gap (OVERRUN) as many periods later as the frame times say), and the index
    # of each frame's first sample by seq
    out: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    k = 0
    prev = None
    for f in frames:
        if prev is not None:
            end = prev["t0_us"] + prev["n"] * prev["period_us"]
            # frame times never overlap: what the ingest would record as a clock step back
            assert f["t0_us"] > end - prev["period_us"], f["seq"]
            if f["quality"] & OVERRUN:
                k += round((f["t0_us"] - end) / f["period_us"])
        first[f["seq"]] = k
        for row in f["samples"]:
            out[k] = row
            k += 1
        prev = f
    return out, first


def _unique(frames: list[dict]) -> list[dict]:
    return sorted({f["seq"]: f for f in frames}.values(), key=lambda f: f["seq"])


OVERFLOW = """
import json, binascii, time
import asyncio
from sim.board import SimBoard
from drivers.mpu6050 import MPU6050
from clock import Clock
from ring import Ring
from sampler import Sampler
import frame

hw = SimBoard(%d)
imu = MPU6050(hw.i2c, 0x68)
imu.configure(500, 8, 1000)
ring = Ring(frame.size(50), 40)
cfg = {"rate_hz": 500, "samples_per_frame": 50, "max_samples": 1500, "stuck_samples": 25,
       "range_checks": {}}
s = Sampler(imu, ring, Clock(), 7, cfg)

async def stall():
    await asyncio.sleep_ms(1000)
    time.sleep_ms(400)  # the interpreter is blocked (a slow flash write, a long GC ...)

async def main():
    t = asyncio.create_task(stall())
    await s.run()
    await t

asyncio.run(main())
for i in range(ring.tail, ring.head):
    print(json.dumps({"hex": binascii.hexlify(ring.frame(i)).decode()}))
print(json.dumps({"samples": s.samples, "lost": s.lost, "overflows": s.fifo_overflows,
                  "first_t0_us": s.first_t0_us}))
"""


def test_sampler__fifo_overflow_is_counted_flagged_and_resynchronised(fw_build):
    seed = 5
    *raw, stats = run_mpy(fw_build, OVERFLOW % seed)
    frames = [decode_frame(bytes.fromhex(f["hex"])) for f in raw]
    assert stats["samples"] == 1500
    assert stats["overflows"] >= 1
    assert 150 <= stats["lost"] <= 300  # 400 ms at 500 Hz and the FIFO's content
    flagged = [f for f in frames if f["quality"] & OVERRUN]
    assert flagged, "the frame after the overflow carries OVERRUN"
    assert sum(f["n"] for f in frames) == 1500
    by_k, _ = _by_k(frames)
    # every framed sample is a true sample (no misaligned bytes after the resync), at its
    # time within one sample period
    for k, row in by_k.items():
        assert row in (_truth(seed, k + d, 500) for d in (0, -1, 1)), k
    assert max(by_k) - min(by_k) + 1 == 1500 + stats["lost"]  # the gap is as long as counted


# A bus error on the overflow check right after a FIFO burst (a connector that lets go
# between two transactions): the next transaction after bursts 4, 12 and 20 fails.
BURST_THEN_ERROR = OVERFLOW.replace(
    "s = Sampler(",
    """bus = hw.i2c
plain = bus.readfrom_mem_into
bursts = [0]
def read(addr, reg, buf, addrsize=8):
    plain(addr, reg, buf)
    if reg == 0x74:  # FIFO_R_W
        bursts[0] += 1
        if bursts[0] in (4, 12, 20):
            bus.inject_fault(addr, 1)
bus.readfrom_mem_into = read
s = Sampler(""",
).replace(
    "    t = asyncio.create_task(stall())\n    await s.run()\n    await t", "    await s.run()"
)
BURST_THEN_ERROR = BURST_THEN_ERROR.replace(
    '"first_t0_us": s.first_t0_us', '"first_t0_us": s.first_t0_us, "i2c_errors": s.i2c_errors'
).replace("Ring(frame.size(50), 40)", "Ring(frame.size(50), 120)")  # each resync ends a frame


def test_sampler__a_bus_error_right_after_a_burst_is_survived_counted_and_resynchronised(
    fw_build,
):
    seed = 6
    *raw, stats = run_mpy(fw_build, BURST_THEN_ERROR % seed)  # an escaping OSError fails here
    frames = [decode_frame(bytes.fromhex(f["hex"])) for f in raw]
    assert stats["samples"] == 1500 and sum(f["n"] for f in frames) == 1500
    assert stats["i2c_errors"] == 3 and stats["lost"] > 0
    gaps = [f for f in frames if f["quality"] & SENSOR_ERROR and f["quality"] & OVERRUN]
    assert len(gaps) == 3
    by_k, _ = _by_k(frames)
    for k, row in by_k.items():
        assert row in (_truth(seed, k + d, 500) for d in (0, -1, 1)), k
    # each gap's length is read from the sensor's count at one moment: within a sample
    assert abs(max(by_k) - min(by_k) + 1 - (1500 + stats["lost"])) <= len(gaps)


def test_device_run__faults_are_counted_flagged_reported_and_survived(mosquitto, tmp_path):
    seed, device, rate = 21, "gl-fault-1", 100
    faults = [
        [1.5, "i2c", 0x68, 1],  # a single bus error
        [2.5, "i2c", 0x68, 3],  # a burst
        [3.5, "stuck", 0x68, 60],  # 60 identical samples
        [5.0, "saturate", 0x68, 30],  # full scale
        [6.0, "gone", 0x68, 1.5],  # the IMU drops off the bus and comes back power-cycled
        [1.0, "gone", 0x76, 4.0],  # the BME280 stops answering for 4 s
    ]
    with Subscriber(mosquitto.port) as sub:
        dev = start_device(
            device, "127.0.0.1", mosquitto.port, seed=seed, rate_hz=rate, max_samples=1100,
            state_dir=tmp_path / "devices",
            extra={"env_period_s": 1, "sim": {"faults": faults}},
        )  # fmt: skip
        with dev:
            summary = dev.wait(timeout=60)
        assert sub.wait_for(lambda: len(_unique(sub.frames(device))) >= summary["frames"], 10)
        frames = _unique(sub.frames(device))
        status = [json.loads(p) for _t, p, _r in sub.on(f"/{device}/status")]
        env = [json.loads(p) for _t, p, _r in sub.on(f"/{device}/env")]

    assert summary["samples"] == 1100  # the sampler never stopped
    assert summary["i2c_errors"] >= 4
    assert summary["stuck_events"] == 1
    assert summary["clipped_frames"] >= 1
    assert summary["imu_lost"] >= 1 and summary["imu_reinits"] == summary["imu_lost"]
    assert summary["env_errors"] >= 2
    q = [f["quality"] for f in frames]
    assert any(x & SENSOR_ERROR for x in q)
    assert any(x & SENSOR_STUCK for x in q)
    assert any(x & 0x04 == 0 and x & 0x01 for x in q)  # ACC_CLIPPED from the saturation
    assert any(x & OVERRUN for x in q)  # the outage of the IMU is a gap
    # status reports: the fault counters and the IMU's state, sent when faults happen
    faulted = [s for s in status if s.get("faults", {}).get("imu_lost")]
    assert faulted and any(s["imu"] == "lost" for s in status)
    assert status[-1]["imu"] == "ok" and status[-1]["faults"]["env_errors"] >= 2
    # the cloud takes every field the firmware sends, none left out
    for said in status:
        taken, dropped = parse_status(json.dumps(said).encode(), device=device)
        assert dropped is None, dropped
        assert taken.model_dump(exclude_none=True, mode="json")["faults"] == said["faults"]
        assert taken.clock is not None and taken.heap_min_free == said["heap_min_free"]
    assert (
        any(m["sensor_data"]["temperature"]["quality"] == "sensor_error" for m in env)
        and env[-1]["sensor_data"]["temperature"]["quality"] == "good"
    )  # re-initialised
    # every framed sample that is not stuck or saturated is the sensor's true sample
    by_k, index = _by_k(frames)
    good = 0
    for f in frames:
        if f["quality"] & (SENSOR_STUCK | 0x01 | 0x02):
            continue
        k0 = index[f["seq"]]
        for i, row in enumerate(f["samples"]):
            if by_k.get(k0 + i - 1) == row:
                continue  # the start of the stuck run, before it is long enough to flag
            assert row in (_truth(seed, k0 + i + d, rate) for d in (0, -1, 1)), (f["seq"], i)
            good += 1
    assert good >= 900 and len(by_k) == 1100
