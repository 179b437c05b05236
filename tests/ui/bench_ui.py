"""Benchmark of the live view: frame rate and JS heap with N devices streaming at 100 Hz.

    .venv/bin/python -m tests.ui.bench_ui --devices 10 --seconds 600

Starts a stack on free ports in a temp dir and the ingest with API keys; publishes N
synthetic walkers (hardware/walker.py) at 100 Hz in real time to the cloud broker (50
samples a frame); logs in in Debian's chromium; measures the device page's frame rate with
requestAnimationFrame (three 5 s windows, median) and the fleet page's JS heap after a
forced GC at its start and after `--seconds`. Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from gaitlink.hardware.walker import synthesize
from gaitlink.tools.stack import Stack
from tests.api.service import ACC_SCALE, GYRO_SCALE, PERIOD_US, SCALES, N, api_service
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import gateway_publisher
from tests.ui.browser import FPS_JS, chromium, js_heap_bytes

LOOP_S = 60  # each walker's synthetic minute, repeated


def _walker_frames(seed: int) -> np.ndarray:
    walk = synthesize("foot", 1e6 / PERIOD_US, LOOP_S, cadence_spm=55.0, seed=seed)
    counts = np.round(walk.samples / SCALES).astype(np.int16)
    return counts[: len(counts) // N * N].reshape(-1, N, 6)


def _stream(stack: Stack, devices: list[str], stop: threading.Event) -> None:
    walks = [_walker_frames(seed) for seed in range(1, len(devices) + 1)]
    start_us = time.time_ns() // 1000
    frame_s = N * PERIOD_US / 1e6
    with gateway_publisher(stack, *devices) as client:
        i = 0
        while not stop.is_set():
            t0 = start_us + i * N * PERIOD_US
            for device, walk in zip(devices, walks, strict=True):
                payload = encode_frame(
                    walk[i % len(walk)], boot_id=7, seq=i, t0_us=t0, period_us=PERIOD_US,
                    acc_scale=ACC_SCALE, gyro_scale=GYRO_SCALE,
                )  # fmt: skip
                client.publish(f"gaitlink/v1/{device}/imu", payload, qos=1)
            i += 1
            # Real time: frame i is published once its last sample has been taken.
            stop.wait(max(0.0, start_us / 1e6 + (i + 1) * frame_s - time.time()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=600.0, help="fleet page heap span")
    args = parser.parse_args()
    devices = [f"bench-{k + 1:02d}" for k in range(args.devices)]
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        tmp_path = Path(tmp)
        stack = Stack.on_free_ports(tmp_path / "stack")
        stack.up()
        stop = threading.Event()
        try:
            with api_service(stack, tmp_path / "ingest") as api:
                walkers = threading.Thread(target=_stream, args=(stack, devices, stop), daemon=True)
                walkers.start()
                deadline = time.monotonic() + 120
                while len(api.ok("/v1/devices")["devices"]) < len(devices):
                    if time.monotonic() > deadline:
                        raise SystemExit("the walkers' data did not reach InfluxDB in 120 s")
                    time.sleep(1)
                with chromium(tmp_path / "profile") as browser:
                    page = browser.new_page()
                    page.goto(f"http://127.0.0.1:{api.port}/ui/#/device/{devices[0]}")
                    page.fill("#key", api.keys["researcher"])
                    page.click("#login button")
                    page.wait_for_selector('[data-figure="samples"]')
                    time.sleep(12)  # a full 10 s window of traces
                    fps = [page.evaluate(FPS_JS, 5000) for _ in range(3)]
                    page.goto(f"http://127.0.0.1:{api.port}/ui/#/fleet")
                    page.locator("td.online").nth(len(devices) - 1).wait_for(timeout=60_000)
                    heap_start = js_heap_bytes(page)
                    time.sleep(args.seconds)
                    online = page.locator("td.online").count()
                    heap_end = js_heap_bytes(page)
                    problems = list(browser.problems)
        finally:
            stop.set()
            stack.down()
    print(f"devices: {len(devices)} at 100 Hz; device page at 50 Hz")
    print(f"device page frame rate (rAF, 3 x 5 s): median {statistics.median(fps):.1f} "
          f"frames/s, runs {', '.join(f'{f:.1f}' for f in fps)}")  # fmt: skip
    print(f"fleet page JS heap: {heap_start / 1e6:.2f} MB at start, {heap_end / 1e6:.2f} MB "
          f"after {args.seconds:g} s ({online}/{len(devices)} online at the end)")  # fmt: skip
    print(f"console/page errors: {problems or 'none'}")


if __name__ == "__main__":
    main()
