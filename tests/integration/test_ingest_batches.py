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
        wait_until(lambda: count(stack, "imu", "WHERE device='batch-a'") == 250, 30, "5 frames")
        store = DeadLetterStore(tmp_path / "dead-letters")

        def ours() -> dict[str, dict]:
            return {r["device"]: r for r in store.read() if r["device"] in ("batch-a", "batch-b")}

        wait_until(lambda: len(ours()) == 2, 30, "a dead letter for each device")
        metrics = services.ingest_metrics(port)
    # The stack is shared: other tests' retained messages reach this ingest too, so only
    # what is ours is counted here.
    records = ours()
    assert (records["batch-a"]["topic"], records["batch-a"]["reason"]) == (
        "gaitlink/v1/batch-a/imu", "bad_crc",
    )  # fmt: skip
    assert (records["batch-b"]["topic"], records["batch-b"]["reason"]) == (
        "gaitlink/v1/batch-b/imu/batch", "batch_bad_length",
    )  # fmt: skip
    assert metrics["frame_batches"] >= 1 and metrics["dead_letters_by_reason"]["bad_crc"] >= 1
