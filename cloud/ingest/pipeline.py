"""From a batch of MQTT messages to InfluxDB lines, and from a write to the acks.

`transform` is plain, synchronous CPU work (decode, dedup, rotate, build lines); the
service runs it on one worker thread, so per-device state is touched by one thread and in
arrival order. `deliver` writes and only then lets the caller ack: at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from cloud.influx.client import InfluxError
from cloud.ingest.deadletter import DeadLetterStore
from cloud.ingest.devices import DeviceBook
from cloud.ingest.points import env_line, imu_lines, quality_line, status_line
from cloud.ingest.sequence import SequenceTracker, Verdict
from cloud.protocol import frame as wire
from cloud.protocol.messages import DeviceStatus, EnvTelemetry, MessageError, parse
from cloud.protocol.topics import TopicError, parse_topic
from gateway.link import Message

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestCounters:
    messages: int = 0
    frames: int = 0
    samples: int = 0
    env: int = 0
    status: int = 0
    duplicates: int = 0
    gaps: int = 0
    skipped_frames: int = 0
    late: int = 0
    dead_letters: int = 0
    influx_retries: int = 0
    lines_written: int = 0
    batches: int = 0


@dataclass(slots=True)
class Transformed:
    """The lines each message produced, kept per message so a refused write can be split."""

    per_message: list[tuple[Message, list[str]]] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [line for _, lines in self.per_message for line in lines]


class Pipeline:
    def __init__(self, devices: DeviceBook, dead_letters: DeadLetterStore) -> None:
        self.devices = devices
        self.dead_letters = dead_letters
        self.counters = IngestCounters()
        self._sequences: dict[str, SequenceTracker] = {}

    # -- CPU side (worker thread) ----------------------------------------------------
    def transform(self, batch: list[Message]) -> Transformed:
        out = Transformed()
        for message in batch:
            self.counters.messages += 1
            try:
                lines = self._lines_for(message)
            except wire.FrameError as exc:
                self.dead_letter(message, exc.reason, str(exc))
                lines = []
            except MessageError as exc:
                self.dead_letter(message, "invalid_message", str(exc))
                lines = []
            except TopicError as exc:
                self.dead_letter(message, "bad_topic", str(exc))
                lines = []
            out.per_message.append((message, lines))
        return out

    def _lines_for(self, message: Message) -> list[str]:
        topic = parse_topic(message.topic)
        if topic.kind == "imu":
            return self._imu(topic.device, message.payload)
        if topic.kind == "env":
            self.counters.env += 1
            return [env_line(parse(EnvTelemetry, message.payload, device=topic.device))]
        if topic.kind == "status":
            self.counters.status += 1
            status = parse(DeviceStatus, message.payload, device=topic.device)
            return [status_line(status, time.time_ns() // 1000)]
        raise TopicError(f"topic {message.topic!r}: the ingest does not take {topic.kind!r}")

    def _imu(self, device: str, payload: bytes) -> list[str]:
        frame = wire.decode(payload)
        tracker = self._sequences.setdefault(device, SequenceTracker())
        seen = tracker.observe(frame.boot_id, frame.seq)
        lines: list[str] = []
        if seen.verdict is Verdict.DUPLICATE:
            self.counters.duplicates += 1
            return lines
        if seen.verdict is Verdict.GAP:
            self.counters.gaps += 1
            self.counters.skipped_frames += seen.skipped
            lines.append(
                quality_line(
                    device,
                    "gap",
                    frame.t0_us,
                    skipped_frames=seen.skipped,
                    seq=frame.seq,
                    boot_id=frame.boot_id,
                )
            )
        elif seen.verdict is Verdict.LATE:
            self.counters.late += 1
            lines.append(
                quality_line(device, "late", frame.t0_us, seq=frame.seq, boot_id=frame.boot_id)
            )
        profile = self.devices.profile(device)
        body = self.devices.to_body(device, frame.physical())
        lines.extend(imu_lines(device, profile.placement, frame, body))
        self.counters.frames += 1
        self.counters.samples += frame.n_samples
        return lines

    def dead_letter(self, message: Message, reason: str, detail: str) -> None:
        log.warning("dead letter (%s) from %s: %s", reason, message.topic, detail)
        self.dead_letters.put(message.topic, message.payload, reason, detail)
        self.counters.dead_letters += 1

    # -- I/O side (event loop) -------------------------------------------------------
    async def deliver(
        self,
        transformed: Transformed,
        write: Callable[[str], object],
        *,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0),
    ) -> None:
        """Write every line; returns once InfluxDB accepted them or they are dead letters.

        A server-side failure (unreachable, 5xx) is retried for as long as it takes, at
        the last delay: the messages stay unacked, so the broker holds everything behind
        them and nothing is lost. A refusal of the data (4xx) is narrowed to the messages
        that cause it, which go to the dead-letter store.
        """
        lines = transformed.lines
        self.counters.batches += 1
        if not lines:
            return
        try:
            await self._write_retrying(write, "\n".join(lines), retry_delays)
            self.counters.lines_written += len(lines)
            return
        except InfluxError:
            pass
        for message, own in transformed.per_message:
            if not own:
                continue
            try:
                await self._write_retrying(write, "\n".join(own), retry_delays)
                self.counters.lines_written += len(own)
            except InfluxError as exc:
                self.dead_letter(message, "influx_rejected", str(exc))

    async def _write_retrying(self, write, body: str, delays: tuple[float, ...]) -> None:
        attempt = 0
        while True:
            try:
                await write(body)
                return
            except InfluxError as exc:
                if not exc.retryable:
                    raise
                delay = delays[min(attempt, len(delays) - 1)]
                attempt += 1
                self.counters.influx_retries += 1
                log.warning("InfluxDB write failed (%s); retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)

    def snapshot(self) -> dict[str, object]:
        stats: dict[str, object] = asdict(self.counters)
        stats["dead_letters_by_reason"] = dict(self.dead_letters.by_reason)
        stats["dead_letters_rotated_away"] = self.dead_letters.rotated_away
        return stats
