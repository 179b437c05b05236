"""A gateway's frame batches (docs/protocol.md §2.5) through the real cloud broker (with
its ACL, as the site's gateway account), the real ingest process and a real InfluxDB."""

import time

from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.gateway.batch import encode_batch
from gaitlink.tools import services
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import (
    count,
    gateway_publisher,
    publish_all,
    running_pipeline,
    wait_until,
)


def _frames(n_frames: int, t0_us: int) -> list[bytes]:
    import numpy as np

    counts = np.full((50, 6), 7, np.int16)
    return [
        encode_frame(counts, boot_id=9, seq=s, t0_us=t0_us + s * 500_000) for s in range(n_frames)
    ]


def test_ingest__a_batch_is_written_frame_by_frame_and_a_bad_frame_costs_only_itself(
    stack, tmp_path
):
    frames = _frames(6, time.time_ns() // 1000 - 60_000_000)
    corrupt = bytearray(frames[3])
    corrupt[50] ^= 0xFF
    batch = encode_batch([*frames[:3], bytes(corrupt), *frames[4:]])
    broken = encode_batch(frames[:2])[:-1]  # a length that cannot be true: nothing placed
    with (
        running_pipeline(stack, tmp_path) as pipeline,
        gateway_publisher(stack, "batch-a", "batch-b") as gateway,
    ):
        publish_all(gateway, [("gaitlink/v1/batch-a/imu/batch", batch),
                              ("gaitlink/v1/batch-b/imu/batch", broken)])  # fmt: skip
        port = pipeline["http_port"]
        wait_until(lambda: services.ingest_metrics(port)["dead_letters"] == 2, 30, "dead letters")
        wait_until(lambda: count(stack, "imu", "WHERE device='batch-a'") == 250, 30, "5 frames")
        metrics = services.ingest_metrics(port)
    assert metrics["dead_letters_by_reason"] == {"bad_crc": 1, "batch_bad_length": 1}
    assert (metrics["frame_batches"], metrics["frames"], metrics["messages"]) == (1, 5, 2)
    records = {r["reason"]: r for r in DeadLetterStore(tmp_path / "dead-letters").read()}
    assert records["bad_crc"]["topic"] == "gaitlink/v1/batch-a/imu"
    assert records["batch_bad_length"]["topic"] == "gaitlink/v1/batch-b/imu/batch"
