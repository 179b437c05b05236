"""From a batch of MQTT messages to InfluxDB lines, and from a write to the acks.

`transform` is plain, synchronous CPU work (decode, validate, dedup, rotate, gait, build
lines), one message at a time: a message's fate depends on that message alone. Bad input
becomes a dead letter with its reason; anything else that goes wrong is a bug in the
ingest, so the message is kept for retry (never acked meanwhile), logged with its
traceback and reported by /health. The service runs `transform` on one worker thread, so
per-device state is touched by one thread and in arrival order. `deliver` writes and only
then lets the caller ack: at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from gaitlink.cloud.gait.support import supports
from gaitlink.cloud.influx.client import InfluxError
from gaitlink.cloud.ingest.deadletter import DeadLetterStore
from gaitlink.cloud.ingest.devices import DeviceBook
from gaitlink.cloud.ingest.gait import GaitStage
from gaitlink.cloud.ingest.points import (
    config_line,
    env_line,
    epoch_us,
    imu_lines,
    imu_values,
    quality_line,
    status_line,
)
from gaitlink.cloud.ingest.sequence import Observation, SequenceTracker, Verdict
from gaitlink.cloud.ingest.validate import Rejected, TimeLimits, check_scales
from gaitlink.cloud.protocol import frame as wire
from gaitlink.cloud.protocol.batch import BatchError, decode_batch
from gaitlink.cloud.protocol.config import ConfigReport
from gaitlink.cloud.protocol.frame import CHANNELS_ACC, CHANNELS_GYRO, QUALITY_SEQ_JUMP
from gaitlink.cloud.protocol.messages import EnvTelemetry, MessageError, parse, parse_status
from gaitlink.cloud.protocol.topics import TopicError, parse_topic
from gaitlink.mqtt.link import Message

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestCounters:
    """Every counter of the pipeline, in one place (the stats and metrics views read it)."""

    messages: int = 0
    # Messages that were frame batches (protocol §2.5); their frames count in `frames`.
    frame_batches: int = 0
    frames: int = 0
    samples: int = 0
    env: int = 0
    status: int = 0
    config_reports: int = 0
    # Status reports written without the optional fields that failed validation (each is
    # an `ingest_quality` `bad_status_field` incident naming them).
    status_fields_dropped: int = 0
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
    # Frames past the dedup horizon or off the device's timeline: written, flagged,
    # recorded as `seq_jump`, and they do not move the dedup window (sequence.py).
    seq_jumps: int = 0
    # Frames older than the dedup bitmap: written without being judged (sequence.py).
    behind_window: int = 0
    # Frames stored raw that the gait stage could not use (rate, channels, placement).
    gait_skipped_frames: int = 0
    dead_letters: int = 0
    # Bugs: a message that raised something other than a rejection. Kept for retry.
    internal_errors: int = 0
    retries: int = 0
    # Retained status replays (a resubscription re-sends the last will): not new facts.
    retained_replays: int = 0
    influx_retries: int = 0
    lines_written: int = 0
    batches: int = 0


@dataclass(slots=True)
class Transformed:
    """The lines each message produced, kept per message so a refused write can be split;
    the messages to ack once written (`done`); and the messages an internal error kept back
    for retry (they must not be acked).

    A frame batch's frames are messages of their own in `per_message` (each an `imu`
    message, so a refused write or a bad frame costs only that frame), while `done` holds
    the batch itself: the broker knows only the batch.

    A message's text is a list of chunks, each one line or several joined by newlines (a
    frame's `imu` points come as one block); `body` joins them as written."""

    per_message: list[tuple[Message, list[str]]] = field(default_factory=list)
    held: list[Message] = field(default_factory=list)
    done: list[Message] = field(default_factory=list)
    dead_lettered: int = 0  # of per_message: durable only after the store's sync()

    @property
    def body(self) -> str:
        return "\n".join(chunk for _, chunks in self.per_message for chunk in chunks)

    @property
    def lines(self) -> list[str]:
        body = self.body
        return body.split("\n") if body else []


# Called with ("incident" | "dead_letter", fields) for every incident and dead letter, on
# the thread that found it (the worker); a tap must be quick and must not raise.
Tap = Callable[[str, dict], None]

_REJECTIONS = (wire.FrameError, Rejected, MessageError, TopicError, BatchError)
_BATCH_SUFFIX = "/imu/batch"


class Pipeline:
    def __init__(
        self,
        devices: DeviceBook,
        dead_letters: DeadLetterStore,
        gait: GaitStage | None = None,
        *,
        time_limits: TimeLimits | None = None,
        seq_horizon_s: float = 600.0,
        seq_t0_tolerance_s: float = 60.0,
        retry_delay_s: float = 5.0,
        max_held: int = 1000,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        record_report: Callable[[ConfigReport, int], None] | None = None,
    ) -> None:
        self.devices = devices
        # Called (worker thread) with each valid config report: the registry keeps what
        # each device last reported, for GET /v1/devices/{id}.
        self.record_report = record_report
        self.dead_letters = dead_letters
        self.gait = gait
        self.time_limits = time_limits or TimeLimits()
        self.counters = IngestCounters()
        self.taps: list[Tap] = []
        self._clock = clock
        self._seq_settings = {"horizon_s": seq_horizon_s, "t0_tolerance_s": seq_t0_tolerance_s}
        self._sequences: dict[str, SequenceTracker] = {}
        # device -> (boot_id, time of its last in-order sample, µs)
        self._last_sample_us: dict[str, tuple[int, int]] = {}
        # (device, reason) the gait stage skipped a stream for, already reported once.
        self._gait_skips: set[tuple[str, str]] = set()
        # Messages an internal error kept back: retried after `retry_delay_s`, oldest first.
        # Bounded; past `max_held` a message is left unacked without an in-process retry,
        # and the broker redelivers it at the next connection (counted in internal_errors).
        self._held: deque[tuple[float, Message]] = deque()
        self._retry_delay_s = retry_delay_s
        self._max_held = max_held
        # What is wrong right now, for /health: key -> one line. Written by the worker,
        # read by the event loop (copied in one step, see problems()).
        self._faults: dict[str, str] = {}
        # Why InfluxDB refuses writes right now, while it does; None when writes go through.
        self.influx_stalled: str | None = None

    # -- CPU side (worker thread) ----------------------------------------------------
    def transform(self, batch: list[Message], *, retry: bool = True) -> Transformed:
        """Each message on its own: its fate never depends on another message.

        `retry=False` for a caller that retries itself (an HTTP client): a message an
        internal error kept back is returned in `held`, not queued for `due_retries`.
        """
        out = Transformed()
        for message in batch:
            self.counters.messages += 1
            errors = [e for part in self._parts(message, out) if (e := self._one(part, out))]
            if errors:
                # A frame of a batch too: the batch stays unacked and comes back whole; its
                # other frames, written now, are then duplicates and dropped per frame.
                self._internal_error(message, errors[0], retry=retry)
                out.held.append(message)
            else:
                out.done.append(message)
        if not self._held:
            self._faults.pop("held", None)
        return out

    def _parts(self, message: Message, out: Transformed) -> list[Message]:
        """The message itself; or a frame batch's frames, each as the `imu` message its
        device would have sent; or nothing when the batch itself is a dead letter."""
        if not message.topic.endswith(_BATCH_SUFFIX):
            return [message]
        try:
            frames = decode_batch(message.payload)
        except BatchError as exc:
            self._reject(message, exc, out)
            return []
        self.counters.frame_batches += 1
        topic = message.topic.removesuffix("/batch")
        return [
            Message(topic, frame, message.qos, retain=False, mid=message.mid) for frame in frames
        ]

    def _one(self, message: Message, out: Transformed) -> Exception | None:
        """Its lines into `out`, or its dead letter; the exception if it was a bug."""
        try:
            lines = self._lines_for(message)
        except _REJECTIONS as exc:
            self._reject(message, exc, out)
            lines = []
        except Exception as exc:
            return exc
        out.per_message.append((message, lines))
        return None

    def _reject(self, message: Message, exc: Exception, out: Transformed) -> None:
        reason = _reason(exc)
        self.dead_letter(message, reason, str(exc).removeprefix(f"{reason}: "))
        out.dead_lettered += 1

    def _internal_error(self, message: Message, exc: Exception, *, retry: bool) -> None:
        """A bug, not bad input: keep the message for retry and say so loudly."""
        self.counters.internal_errors += 1
        log.error("internal error on a message from %s; kept for retry", message.topic,
                  exc_info=exc)  # fmt: skip
        if retry and len(self._held) < self._max_held:
            self._held.append((time.monotonic() + self._retry_delay_s, message))
        self._faults["held"] = (
            f"internal error ({type(exc).__name__}: {exc}) on a message from {message.topic}; "
            f"{len(self._held)} message(s) kept for retry, see the log"
        )

    def due_retries(self) -> list[Message]:
        """Held messages whose retry time has come; the caller feeds them to transform."""
        now = time.monotonic()
        due = []
        while self._held and self._held[0][0] <= now:
            due.append(self._held.popleft()[1])
        self.counters.retries += len(due)
        return due

    def next_retry_in(self) -> float | None:
        return max(0.0, self._held[0][0] - time.monotonic()) if self._held else None

    def problems(self) -> list[str]:
        return list(self._faults.values())  # one C-level copy: safe against the worker

    def _lines_for(self, message: Message) -> list[str]:
        topic = parse_topic(message.topic)
        if topic.kind == "imu":
            return self._imu(topic.device, message.payload)
        profile = self.devices.profile(topic.device)
        if topic.kind == "env":
            env = parse(EnvTelemetry, message.payload, device=topic.device)
            at = epoch_us(env.timestamp)
            self.time_limits.check(at, at, self._clock(), profile.provisioned)
            self.counters.env += 1
            return [env_line(env)]
        if topic.kind == "status":
            status, dropped = parse_status(message.payload, device=topic.device)
            if message.retain and status.timestamp is None:
                # A retained copy without its own time (the last will) says nothing new;
                # stamped with the arrival time it would add a point at every replay.
                self.counters.retained_replays += 1
                return []
            now = self._clock()
            if status.timestamp is not None:
                at = epoch_us(status.timestamp)
                self.time_limits.check(at, at, now, profile.provisioned)
            self.counters.status += 1
            lines = [status_line(status, now)]
            if dropped is not None:
                # Bad values cost only themselves: the rest of the status is written.
                self.counters.status_fields_dropped += 1
                log.warning("status from %s: %s", topic.device, dropped)
                at = epoch_us(status.timestamp) if status.timestamp else now
                lines.append(self.incident(topic.device, "bad_status_field", at, detail=dropped))
            return lines
        if topic.kind == "config/reported":
            report = parse(ConfigReport, message.payload, device=topic.device)
            now = self._clock()
            if self.record_report is not None:
                self.record_report(report, epoch_us(report.timestamp) if report.timestamp else now)
            self.counters.config_reports += 1
            return [config_line(report, now)]
        raise TopicError(f"topic {message.topic!r}: the ingest does not take {topic.kind!r}")

    def _imu(self, device: str, payload: bytes) -> list[str]:
        frame = wire.decode(payload)
        profile = self.devices.profile(device)
        # Stage 3, before dedup: a frame that cannot be true never moves the window.
        check_scales(frame)
        frame_us = frame.n_samples * frame.period_us
        self.time_limits.check(
            frame.t0_us, frame.t0_us + frame_us - frame.period_us, self._clock(),
            profile.provisioned,
        )  # fmt: skip
        # The body-frame samples as stored (points.imu_values): what the gait stage sees.
        units, body = imu_values(self.devices.to_body(device, frame.physical()))
        tracker = self._sequences.get(device)
        if tracker is None:
            tracker = self._sequences[device] = SequenceTracker(**self._seq_settings)
        seen = tracker.observe(frame.boot_id, frame.seq, frame.t0_us, frame_us)
        if seen.verdict is Verdict.DUPLICATE:
            self.counters.duplicates += 1
            return []
        try:
            lines = self._incidents(device, frame, seen)
            flags = QUALITY_SEQ_JUMP if seen.verdict is Verdict.JUMP else 0
            lines.append(imu_lines(device, profile.placement, frame, units, flags=flags))
        except Exception:
            # Not written: its retry must not be taken for a duplicate.
            tracker.forget(frame.boot_id, frame.seq)
            raise
        if seen.verdict in (Verdict.NEXT, Verdict.GAP):
            lines.extend(self._clock_check(device, frame))
            if self.gait is not None:
                lines.extend(self._gait(device, profile.placement, frame, body, seen))
        self.counters.frames += 1
        self.counters.samples += frame.n_samples
        return lines

    def _incidents(self, device: str, frame: wire.Frame, seen: Observation) -> list[str]:
        at, boot = frame.t0_us, frame.boot_id
        if seen.verdict is Verdict.GAP:
            self.counters.gaps += 1
            self.counters.skipped_frames += seen.skipped
            return [
                self.incident(
                    device, "gap", at, skipped_frames=seen.skipped, seq=frame.seq, boot_id=boot
                )
            ]
        if seen.verdict is Verdict.JUMP:
            self.counters.seq_jumps += 1
            return [
                self.incident(
                    device,
                    "seq_jump",
                    at,
                    seq=frame.seq,
                    boot_id=boot,
                    ahead=seen.ahead,
                    rebased=int(seen.rebased),
                )
            ]
        if seen.unseen_before:
            self.counters.unseen_at_boot_start += seen.unseen_before
            return [
                self.incident(
                    device, "boot_start_unseen", at, frames=seen.unseen_before, boot_id=boot
                )
            ]
        if seen.verdict is Verdict.LATE:
            self.counters.late += 1
            self.counters.behind_window += seen.unjudged
            return [self.incident(device, "late", at, seq=frame.seq, boot_id=boot)]
        return []

    def _gait(self, device, placement, frame: wire.Frame, body, seen: Observation) -> list[str]:
        """Gait lines of one in-order frame; never costs the frame its raw samples."""
        assert self.gait is not None
        channels = [n for bit, n in ((CHANNELS_ACC, "acc"), (CHANNELS_GYRO, "gyro"))
                    if frame.channels & bit]  # fmt: skip
        support = supports(1e6 / frame.period_us, placement, channels)
        if not support.ok:
            self.counters.gait_skipped_frames += 1
            if (device, support.reason) in self._gait_skips:
                return []
            self._gait_skips.add((device, support.reason))
            log.info("gait stage skips %s: %s (raw samples are stored)", device, support.detail)
            return [
                self.incident(
                    device,
                    "gait_skipped",
                    frame.t0_us,
                    reason=support.reason,
                    detail=support.detail,
                )
            ]
        try:
            lines = self.gait.push(device, placement, frame, body, gap=seen.verdict is Verdict.GAP)
        except Exception as exc:
            # A bug in the gait stage: the raw samples are still written; the device's
            # stream starts afresh at its next frame; /health says so until then.
            self.counters.internal_errors += 1
            log.error("gait stage failed on %s; stream restarted", device, exc_info=exc)
            self.gait.drop(device)
            self._faults[f"gait:{device}"] = (
                f"gait stage failed on {device} ({type(exc).__name__}: {exc}), see the log"
            )
            return []
        self._faults.pop(f"gait:{device}", None)
        return lines

    def _clock_check(self, device: str, frame: wire.Frame) -> list[str]:
        last = self._last_sample_us.get(device)
        end_us = frame.t0_us + (frame.n_samples - 1) * frame.period_us
        self._last_sample_us[device] = (frame.boot_id, end_us)
        if last is None or last[0] != frame.boot_id or frame.t0_us > last[1]:
            return []
        self.counters.clock_steps_back += 1
        return [
            self.incident(
                device, "clock_step", frame.t0_us, back_us=last[1] - frame.t0_us, seq=frame.seq
            )
        ]

    def incident(self, device: str, kind: str, time_us: int, **fields: int | str) -> str:
        """The one way an `ingest_quality` incident is made: its line, and the taps told."""
        self._tell("incident", {"device": device, "kind": kind, "time_us": time_us, **fields})
        return quality_line(device, kind, time_us, **fields)

    def dead_letter(self, message: Message, reason: str, detail: str) -> None:
        """Store a message the ingest cannot use (the one way); durable after sync()."""
        log.warning("dead letter (%s) from %s: %s", reason, message.topic, detail)
        device = _device_of(message.topic)
        self.dead_letters.put(message.topic, message.payload, reason, detail, device=device)
        self.counters.dead_letters += 1
        self._tell("dead_letter", {"device": device, "topic": message.topic, "reason": reason,
                                   "detail": detail})  # fmt: skip

    def _tell(self, kind: str, fields: dict) -> None:
        for tap in self.taps:
            try:
                tap(kind, fields)
            except Exception:
                log.exception("a %s tap failed", kind)

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
        body = transformed.body
        self.counters.batches += 1
        if transformed.dead_lettered:
            # Durable before the caller acks: a dead letter may be the only copy. In a
            # thread: the worker goes on with the next batch meanwhile.
            await asyncio.to_thread(self.dead_letters.sync)
        if not body:
            return
        try:
            await self._write_retrying(write, body, retry_delays)
            self.counters.lines_written += body.count("\n") + 1
            return
        except InfluxError:
            pass
        for message, own in transformed.per_message:
            if not own:
                continue
            text = "\n".join(own)
            try:
                await self._write_retrying(write, text, retry_delays)
                self.counters.lines_written += text.count("\n") + 1
            except InfluxError as exc:
                # The dead-letter store fsyncs: off the event loop.
                await asyncio.to_thread(self.dead_letter, message, "influx_rejected", str(exc))
                await asyncio.to_thread(self.dead_letters.sync)

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
        stats["held_for_retry"] = len(self._held)
        stats["problems"] = self.problems()
        stats.update(self.dead_letters.stats())
        if self.gait is not None:
            stats["gait"] = {
                "events": self.gait.events,
                "cycles": self.gait.cycles,
                "clock_steps": self.gait.clock_steps,
                "times_extrapolated": self.gait.times_extrapolated,
            }
        return stats


def _reason(exc: Exception) -> str:
    if isinstance(exc, wire.FrameError | Rejected | BatchError):
        return exc.reason
    return "invalid_message" if isinstance(exc, MessageError) else "bad_topic"


def _device_of(topic: str) -> str | None:
    try:
        return parse_topic(topic).device
    except TopicError:
        return None
