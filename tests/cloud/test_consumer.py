"""The ingest's MQTT consumer: messages handed over from paho's thread arrive in the
asyncio queue all, once, in order, however the wake-ups of the loop are coalesced."""

from __future__ import annotations

import asyncio
import threading

from gaitlink.cloud.ingest.consumer import Consumer
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Message


def _consumer(max_queue: int = 100_000) -> Consumer:
    return Consumer(
        Endpoint("127.0.0.1", 1), "test-consumer", ("gaitlink/v1/+/imu",),
        max_queue=max_queue, max_batch=100_000,
    )  # fmt: skip


def test_consumer__messages_from_another_thread_arrive_all_in_order():
    async def main() -> list[int]:
        consumer = _consumer()
        n_threads, per_thread = 1, 20_000  # paho has one network thread

        def paho() -> None:
            for i in range(per_thread):
                consumer._arrived(Message("gaitlink/v1/d/imu", b"", 1, False, i))

        threads = [threading.Thread(target=paho) for _ in range(n_threads)]
        for t in threads:
            t.start()
        got: list[int] = []
        while len(got) < n_threads * per_thread:
            batch = await consumer.next_batch(timeout=10)
            assert batch, f"{len(got)} of {n_threads * per_thread} arrived, then nothing"
            got += [m.mid for m in batch]
        for t in threads:
            t.join()
        assert await consumer.next_batch(timeout=0.2) == []
        return got

    assert asyncio.run(main()) == list(range(20_000))


def test_consumer__a_full_queue_counts_what_it_leaves_unacked():
    async def main() -> tuple[int, int]:
        consumer = _consumer(max_queue=10)
        thread = threading.Thread(
            target=lambda: [
                consumer._arrived(Message("gaitlink/v1/d/imu", b"", 1, False, i)) for i in range(25)
            ]
        )
        thread.start()
        thread.join()
        await asyncio.sleep(0.1)  # the loop takes the inbox
        return consumer.backlog, consumer.queue_full

    assert asyncio.run(main()) == (10, 15)
