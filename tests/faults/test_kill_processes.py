"""Kill real processes while frames flow, then count every sample in InfluxDB.

The delivery chain is acknowledged hop by hop (docs/protocol.md §2.4), so a SIGKILL of
the gateway, the ingest or influxd may delay data but must not lose or duplicate any.
"""

import time

import numpy as np
import pytest

from tests.cloud.frames import encode_frame
from tests.integration.pipeline import (
    count,
    device_publisher,
    publish_all,
    running_pipeline,
    wait_until,
)

FRAMES_PER_PHASE = 40
SAMPLES = 50
T0 = 1_791_000_000_000_000


def _messages(device: str, first_seq: int, n: int) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(first_seq)
    return [
        (
            f"gaitlink/v1/{device}/imu",
            encode_frame(
                rng.integers(-500, 500, size=(SAMPLES, 6), dtype=np.int16),
                boot_id=1,
                seq=seq,
                t0_us=T0 + seq * SAMPLES * 10_000,
            ),
        )
        for seq in range(first_seq, first_seq + n)
    ]


@pytest.mark.parametrize("victim", ["gateway", "ingest", "influxdb"])
def test_kill_while_streaming_loses_nothing(fresh_stack, tmp_path, victim):
    device = f"fault-{victim}"
    with (
        running_pipeline(fresh_stack, tmp_path) as pipeline,
        device_publisher(fresh_stack, device) as client,
    ):
        publish_all(client, _messages(device, 0, FRAMES_PER_PHASE))
        # Frames in flight at the moment of the kill: published, not yet all written.
        in_flight = _messages(device, FRAMES_PER_PHASE, FRAMES_PER_PHASE)
        infos = [client.publish(t, p, qos=1) for t, p in in_flight]
        if victim == "influxdb":
            fresh_stack.kill("influxdb")
        else:
            pipeline[victim].kill()
        for info in infos:
            info.wait_for_publish(timeout=10)
        # More traffic while the victim is down.
        publish_all(client, _messages(device, 2 * FRAMES_PER_PHASE, FRAMES_PER_PHASE))
        time.sleep(1.0)
        if victim == "influxdb":
            fresh_stack.start("influxdb")
        else:
            pipeline[victim].start()
        total = 3 * FRAMES_PER_PHASE * SAMPLES
        wait_until(
            lambda: count(fresh_stack, "imu", f"WHERE device='{device}'") >= total,
            60,
            f"{total} samples after killing {victim}",
        )
        time.sleep(1.0)  # anything still arriving now would be a duplicate
        assert count(fresh_stack, "imu", f"WHERE device='{device}'") == total
