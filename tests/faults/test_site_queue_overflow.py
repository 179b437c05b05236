"""A site broker whose queue for the gateway is tiny (8 messages) drops frames when a burst
comes faster than the gateway's spool commits ack them. The gateway cannot see that loss
(it happens before it), but it must be counted and reported, to the frame: the ingest sees
the seq gap. (A long cloud outage itself loses nothing: test_gateway_spool_faults.py.)"""

import numpy as np

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.tools import services
from gaitlink.tools.stack import free_port
from tests.cloud.frames import encode_frame
from tests.firmware.helpers import Mosquitto
from tests.integration.pipeline import count, publish_all, publisher, wait_until

FRAMES = 40


def test_site_queue_overflow_is_counted_as_a_gap_at_the_ingest(fresh_stack, tmp_path):
    site = Mosquitto(
        tmp_path / "site",
        free_port(),
        # A client's in-flight messages count against max_queued_messages: 3 + 2 here.
        extra=("max_queued_messages 5", "max_inflight_messages 3"),
    )
    site.start()
    http_port = free_port()
    ingest = services.ingest(fresh_stack, tmp_path, http_port=http_port)
    # The site broker is the test's own small one; the cloud side is the stack's.
    gateway = services.gateway(fresh_stack, tmp_path, site_url=f"127.0.0.1:{site.port}")
    fresh_stack.add_device("ovf-1")  # the gateway may write only its site's devices
    site_endpoint = Endpoint("127.0.0.1", site.port)
    rng = np.random.default_rng(1)
    frames = [
        encode_frame(
            rng.integers(-9, 9, (50, 6), dtype=np.int16),
            seq=s,
            t0_us=1_794_000_000_000_000 + s * 500_000,
        )
        for s in range(FRAMES + 1)
    ]
    try:
        ingest.start()
        gateway.start()
        fresh_stack.kill("cloud_broker")  # the outage: nothing upstream acks
        with publisher(site_endpoint) as client:
            publish_all(client, [("gaitlink/v1/ovf-1/imu", f) for f in frames[:FRAMES]])
        fresh_stack.start("cloud_broker")
        # The backlog the site kept drains first; sent before that, the last frame would
        # find the queue still full and be dropped as well.
        seen: list[int] = []

        def drained() -> bool:
            seen.append(count(fresh_stack, "imu", "WHERE device='ovf-1'"))
            return len(seen) > 12 and seen[-1] > 0 and len(set(seen[-12:])) == 1  # 3 s still

        wait_until(drained, 60, "the kept backlog to drain")
        with publisher(site_endpoint, "after-outage") as client:
            publish_all(client, [("gaitlink/v1/ovf-1/imu", frames[FRAMES])])

        last_t0 = 1_794_000_000_000_000 + FRAMES * 500_000
        wait_until(
            lambda: count(fresh_stack, "imu", f"WHERE device='ovf-1' AND time >= {last_t0}u") == 50,
            60,
            "the frame sent after the outage",
        )
        metrics = services.ingest_metrics(http_port)
        kept = metrics["frames"]
        assert kept < FRAMES + 1, "the small queue should have dropped frames"
        # Every frame is either written or counted as missing: the loss is reported exactly.
        # (The cloud broker is SIGKILLed: frames it had acked but not yet persisted, at
        # most a second's worth, are lost there; before the first frame the ingest sees
        # they show as unseen at boot start, later as a gap.)
        unseen = metrics["unseen_at_boot_start"]
        assert kept + metrics["skipped_frames"] + unseen == FRAMES + 1, metrics
        assert metrics["gaps"] >= 1
    finally:
        gateway.stop()
        ingest.stop()
        site.kill()
