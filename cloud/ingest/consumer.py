"""The MQTT side of the ingest: messages from paho's thread into asyncio, in batches.

The hand-off queue (the inbox) is bounded by the broker, not by us: every message is QoS 1 and stays
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
        self._loop = asyncio.get_running_loop()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self.queue_full = 0
        # Messages from paho's thread wait here until the batch loop takes them; deque
        # append/popleft are atomic. The loop is woken (a write to its self-pipe, most of
        # the per-message cost on paho's thread) only while it waits for messages: while
        # it transforms or writes, it takes what came meanwhile when it next asks.
        self._inbox: deque[Message] = deque()
        self._waiting = False
        self._wake_pending = False
        self._arrival = asyncio.Event()
        self.link = Link(endpoint, client_id, subscriptions=filters, on_message=self._arrived)

    def _arrived(self, message: Message) -> None:
        # paho's thread. Appended before `_waiting` is read, and the loop sets `_waiting`
        # before it looks at the inbox: one of the two always sees the other.
        if len(self._inbox) >= self._max_queue:
            self.queue_full += 1
            return
        self._inbox.append(message)
        if self._waiting and not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._wake_pending = False
        self._arrival.set()

    async def start(self) -> None:
        await asyncio.to_thread(self.link.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.link.stop)

    async def next_batch(self, timeout: float | None = None) -> list[Message]:
        """Wait for one message (up to `timeout` s; [] then), then take whatever else is
        already queued, up to the batch size."""
        if not self._inbox:
            if timeout is not None and timeout <= 0:
                return []
            deadline = None if timeout is None else self._loop.time() + timeout
            self._waiting = True
            try:
                while not self._inbox:
                    # A wake-up scheduled before a previous return may still come: wait
                    # until something is in the inbox, not merely for the event.
                    self._arrival.clear()
                    left = None if deadline is None else deadline - self._loop.time()
                    if left is not None and left <= 0:
                        return []
                    await asyncio.wait_for(self._arrival.wait(), left)
            except TimeoutError:
                return []
            finally:
                self._waiting = False
        inbox, batch = self._inbox, []
        while inbox and len(batch) < self._max_batch:
            batch.append(inbox.popleft())
        return batch

    def ack(self, batch: list[Message]) -> None:
        self.link.ack_all(batch)

    @property
    def backlog(self) -> int:
        return len(self._inbox)
