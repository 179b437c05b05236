"""The MQTT side of the ingest: messages from paho's thread into asyncio, in batches.

The hand-off queue is bounded by the broker, not by us: every message is QoS 1 and stays
unacked until its batch is in InfluxDB, and mosquitto sends a client at most
`max_inflight_messages` unacked messages. The queue's own bound is a backstop; were it
ever reached, the message is left unacked (counted in `queue_full`), and the broker
redelivers it after the next reconnect, so even then nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.mqtt.link import Link, Message

log = logging.getLogger(__name__)


class Consumer:
    def __init__(
        self,
        endpoint: Endpoint,
        client_id: str,
        filters: tuple[str, ...],
        *,
        max_queue: int,
        max_batch: int,
    ) -> None:
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=max_queue)
        self._loop = asyncio.get_running_loop()
        self._max_batch = max_batch
        self.queue_full = 0
        # Messages from paho's thread wait here until the loop takes them. One wake-up of
        # the loop (a write to its self-pipe) per burst, not per message: that write was
        # most of the per-message cost on paho's thread. deque append/popleft are atomic.
        self._inbox: deque[Message] = deque()
        self._wake_pending = False
        self.link = Link(endpoint, client_id, subscriptions=filters, on_message=self._arrived)

    def _arrived(self, message: Message) -> None:
        # paho's thread: never touch the asyncio queue directly.
        self._inbox.append(message)
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._take_inbox)

    def _take_inbox(self) -> None:
        # Cleared before draining: a message appended from now on schedules another call.
        self._wake_pending = False
        while self._inbox:
            message = self._inbox.popleft()
            try:
                self._queue.put_nowait(message)
            except asyncio.QueueFull:
                self.queue_full += 1

    async def start(self) -> None:
        await asyncio.to_thread(self.link.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.link.stop)

    async def next_batch(self, timeout: float | None = None) -> list[Message]:
        """Wait for one message (up to `timeout` s; [] then), then take whatever else is
        already queued."""
        if not self._queue.empty():
            batch = [self._queue.get_nowait()]
        elif timeout is not None and timeout <= 0:
            return []
        else:
            try:
                batch = [await asyncio.wait_for(self._queue.get(), timeout)]
            except TimeoutError:
                return []
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    def ack(self, batch: list[Message]) -> None:
        for message in batch:
            self.link.ack(message)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()
