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

from gaitlink.cloud.influx.client import InfluxError
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook
from gaitlink.cloud.ingest.gait import GaitStage
from gaitlink.cloud.ingest.points import env_line, imu_lines, quality_line, status_line
from gaitlink.cloud.ingest.sequence import SequenceTracker, Verdict
from gaitlink.cloud.protocol import frame as wire
from gaitlink.cloud.protocol.messages import DeviceStatus, EnvTelemetry, MessageError, parse
from gaitlink.cloud.protocol.topics import TopicError, parse_topic
from gaitlink.mqtt.link import Message

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
    # Frames before the first one this process saw of a boot (seq starts at 0): lost
    # upstream, or written before the ingest (re)started. Recorded as `boot_start_unseen`.
    unseen_at_boot_start: int = 0
    # In-order frames whose first sample is not after the previous frame's last: the
    # device clock was stepped back. Written all the same (timestamps interleave rather
    # than coincide, so nothing is overwritten unless they match to the microsecond), and
    # recorded as an ingest_quality `clock_step` incident.
    clock_steps_back: int = 0
    dead_letters: int = 0
    # Retained status replays (a resubscription re-sends the last will): not new facts.
    retained_replays: int = 0
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
    def __init__(
        self, devices: DeviceBook, dead_letters: DeadLetterStore, gait: GaitStage | None = None
    ) -> None:
        self.devices = devices
        self.dead_letters = dead_letters
        self.gait = gait
        self.counters = IngestCounters()
        self._sequences: dict[str, SequenceTracker] = {}
        # device -> (boot_id, time of its last in-order sample, µs)
        self._last_sample_us: dict[str, tuple[int, int]] = {}
        # Why InfluxDB refuses writes right now, while it does; None when writes go through.
        self.influx_stalled: str | None = None

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
            status = parse(DeviceStatus, message.payload, device=topic.device)
            if message.retain and status.timestamp is None:
                # A retained copy without its own time (the last will) says nothing new;
                # stamped with the arrival time it would add a point at every replay.
                self.counters.retained_replays += 1
                return []
            self.counters.status += 1
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
        elif seen.unseen_before:
            self.counters.unseen_at_boot_start += seen.unseen_before
            lines.append(
                quality_line(
                    device,
                    "boot_start_unseen",
                    frame.t0_us,
                    frames=seen.unseen_before,
                    boot_id=frame.boot_id,
                )
            )
        elif seen.verdict is Verdict.LATE:
            self.counters.late += 1
            lines.append(
                quality_line(device, "late", frame.t0_us, seq=frame.seq, boot_id=frame.boot_id)
            )
        if seen.verdict is not Verdict.LATE:
            lines.extend(self._clock_check(device, frame))
        profile = self.devices.profile(device)
        body = self.devices.to_body(device, frame.physical())
        lines.extend(imu_lines(device, profile.placement, frame, body))
        if self.gait is not None and seen.verdict is not Verdict.LATE:
            gap = seen.verdict is Verdict.GAP
            lines.extend(self.gait.push(device, profile.placement, frame, body, gap=gap))
        self.counters.frames += 1
        self.counters.samples += frame.n_samples
        return lines

    def _clock_check(self, device: str, frame: wire.Frame) -> list[str]:
        last = self._last_sample_us.get(device)
        end_us = frame.t0_us + (frame.n_samples - 1) * frame.period_us
        self._last_sample_us[device] = (frame.boot_id, end_us)
        if last is None or last[0] != frame.boot_id or frame.t0_us > last[1]:
            return []
        self.counters.clock_steps_back += 1
        return [
            quality_line(
                device, "clock_step", frame.t0_us, back_us=last[1] - frame.t0_us, seq=frame.seq
            )
        ]

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
                if self.influx_stalled is not None:
                    log.warning("InfluxDB accepts writes again after %d retries", attempt)
                self.influx_stalled = None
                return
            except InfluxError as exc:
                if not exc.retryable:
                    raise
                delay = delays[min(attempt, len(delays) - 1)]
                attempt += 1
                self.counters.influx_retries += 1
                self.influx_stalled = str(exc)
                # The data waits in the broker meanwhile; say loudly that it is waiting.
                log.error("InfluxDB write failed (%s); retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)

    def snapshot(self) -> dict[str, object]:
        stats: dict[str, object] = asdict(self.counters)
        stats["influx_stalled"] = self.influx_stalled
        stats["dead_letters_by_reason"] = dict(self.dead_letters.by_reason)
        stats["dead_letters_rotated_away"] = self.dead_letters.rotated_away
        # Skipped seqs no longer remembered (more than 4096 behind): if such a frame still
        # arrives it is taken for a duplicate and not written. A device's ring holds ~20
        # frames, so none can arrive that late; the counter shows if one ever could.
        stats["seq_memory_overflow"] = sum(t.forgotten_missing for t in self._sequences.values())
        if self.gait is not None:
            stats["gait"] = {
                "events": self.gait.events,
                "cycles": self.gait.cycles,
                "clock_steps": self.gait.clock_steps,
            }
        return stats
