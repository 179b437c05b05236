"""The dead-letter store: every message the ingest could not use, with the reason.

A directory with one folder per source (the device id from the topic, `_unknown` when the
topic names none), each holding JSON-lines segment files, oldest first. A record keeps the
payload (base64) up to `payload_max_bytes`, with its full length and sha256, so a record of
a 10 MB garbage message costs 64 kB and still says what it was; a record whose payload fits
can be replayed (`gaitlink deadletter replay`) once the cause is fixed.

Bounds and drop policy, in bytes on disk:
- per source, `max_bytes_per_source`: a flooding device evicts only its own oldest records;
- in all, `max_bytes`: when full, the oldest records of the source holding the most bytes
  go first.
Records are evicted a segment at a time, counted per reason (`evicted_by_reason`), and each
eviction is logged as a warning.

`put` appends (called by the worker thread); `sync` makes everything appended durable, and
the ingest calls it before it acks the messages, in a thread of its own: neither the event
loop nor the worker waits for the disk. Tools read
the files concurrently (`read`, `get`) and never change them; replays are recorded in
`replayed.jsonl` beside the sources.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

UNKNOWN_SOURCE = "_unknown"
_REPLAYED = "replayed.jsonl"
_DETAIL_MAX = 2000  # characters of the reason's detail kept


class DeadLetterStore:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_bytes_per_source: int = 8 * 1024 * 1024,
        payload_max_bytes: int = 64 * 1024,
    ) -> None:
        if path.exists() and not path.is_dir():
            raise ValueError(f"dead-letter store {path} is a file; it must be a directory")
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_bytes_per_source = min(max_bytes_per_source, max_bytes)
        self.payload_max_bytes = payload_max_bytes
        # A quarter of a source's bound: eviction drops at most that much at once.
        self.segment_bytes = max(1, min(1024 * 1024, self.max_bytes_per_source // 4))
        self._lock = threading.Lock()
        self.by_reason: Counter[str] = Counter()  # stored since start
        self.evicted_by_reason: Counter[str] = Counter()
        self._segments: dict[str, list[list]] = {}  # source -> [[path, bytes], ...] oldest first
        self._total = 0
        self._unsynced: set[Path] = set()
        self._new_folders: set[Path] = set()
        self._sync_lock = threading.Lock()
        self._scan()

    # -- writing (the ingest) -----------------------------------------------------------
    def put(
        self, topic: str, payload: bytes, reason: str, detail: str, *, device: str | None = None
    ) -> str:
        """Append a record (durable after `sync`); returns its id."""
        kept = payload[: self.payload_max_bytes]
        record = {
            "id": uuid.uuid4().hex[:16],
            "time_us": time.time_ns() // 1000,
            "device": device,
            "topic": topic,
            "reason": reason,
            "detail": detail[:_DETAIL_MAX],
            "length": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "truncated": len(kept) < len(payload),
            "payload_b64": base64.b64encode(kept).decode(),
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        source = device or UNKNOWN_SOURCE
        with self._lock:
            self._make_room(source, len(line))
            segment = self._segment_for(source, len(line))
            with open(segment[0], "ab") as f:
                f.write(line)
            segment[1] += len(line)
            self._total += len(line)
            self._unsynced.add(segment[0])
            self.by_reason[reason] += 1
        return record["id"]

    def sync(self) -> None:
        """fsync what was appended before this call (and the folders of new segment files).

        Callers in several threads: one sync at a time, so a call that finds nothing left
        to do returns only after the sync in progress (which may hold its records) is done.
        """
        with self._sync_lock:
            with self._lock:
                paths, self._unsynced = self._unsynced, set()
                folders, self._new_folders = self._new_folders, set()
            for path in paths:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # evicted meanwhile
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            for folder in folders:  # a new segment's name is durable with its folder
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def _segment_for(self, source: str, incoming: int) -> list:
        segments = self._segments.setdefault(source, [])
        if segments and segments[-1][1] + incoming <= self.segment_bytes:
            return segments[-1]
        folder = self.path / source
        if not folder.exists():
            folder.mkdir()
            self._new_folders.add(self.path)
        self._new_folders.add(folder)
        number = int(segments[-1][0].stem) + 1 if segments else 1
        segment = [folder / f"{number:08d}.jsonl", 0]
        segments.append(segment)
        return segment

    def _make_room(self, source: str, incoming: int) -> None:
        while self._source_bytes(source) + incoming > self.max_bytes_per_source:
            if not self._evict_oldest(source):
                break
        while self._total + incoming > self.max_bytes:
            noisiest = max(self._segments, key=self._source_bytes, default=None)
            if noisiest is None or not self._evict_oldest(noisiest):
                break

    def _source_bytes(self, source: str) -> int:
        return sum(size for _, size in self._segments.get(source, ()))

    def _evict_oldest(self, source: str) -> bool:
        segments = self._segments.get(source)
        if not segments:
            return False
        path, size = segments.pop(0)
        if not segments:
            del self._segments[source]
        reasons = Counter(record["reason"] for record in _records(path))
        path.unlink(missing_ok=True)
        self._unsynced.discard(path)
        self._total -= size
        self.evicted_by_reason.update(reasons)
        log.warning(
            "dead-letter store full: evicted the %d oldest records of %s (%s); "
            "replay or export them sooner, or give the store more room",
            sum(reasons.values()), source, ", ".join(f"{r} {n}" for r, n in reasons.items()),
        )  # fmt: skip
        return True

    def _scan(self) -> None:
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir()):
            segments = [[p, p.stat().st_size] for p in sorted(folder.glob("*.jsonl"))]
            if segments:
                self._segments[folder.name] = segments
                self._total += sum(size for _, size in segments)

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                "dead_letters_by_reason": dict(self.by_reason),
                "dead_letters_evicted_by_reason": dict(self.evicted_by_reason),
                "dead_letter_store_bytes": self._total,
            }

    # -- reading (tools) ----------------------------------------------------------------
    def read(self, *, reason: str | None = None, device: str | None = None) -> list[dict]:
        """Records on disk, oldest first, with `replayed` set from the replay log."""
        replayed = self.replayed_ids()
        records = []
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir()):
            if device is not None and folder.name != device:
                continue
            for path in sorted(folder.glob("*.jsonl")):
                for record in _records(path):
                    if reason is None or record["reason"] == reason:
                        record["replayed"] = record["id"] in replayed
                        records.append(record)
        records.sort(key=lambda r: r["time_us"])
        return records

    def get(self, record_id: str) -> dict | None:
        return next((r for r in self.read() if r["id"] == record_id), None)

    def replayed_ids(self) -> set[str]:
        path = self.path / _REPLAYED
        if not path.exists():
            return set()
        return {r["id"] for r in _records(path)}

    def mark_replayed(self, record_ids: Iterable[str]) -> None:
        lines = "".join(
            json.dumps({"id": i, "time_us": time.time_ns() // 1000}) + "\n" for i in record_ids
        )
        with open(self.path / _REPLAYED, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def payload_of(record: dict) -> bytes:
    return base64.b64decode(record["payload_b64"])


def _records(path: Path) -> Iterator[dict]:
    """The records of one file; a torn last line (a crash mid-append) is skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return  # evicted while a tool was reading
