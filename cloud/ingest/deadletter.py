"""The dead-letter store: every message the ingest could not use, with the reason.

A JSON-lines file. Each record keeps the raw payload (base64), so nothing is lost: a fixed
decoder can replay it. The file is bounded: past `max_bytes` it is rotated to `.1`, and the
previous `.1` is deleted; the count of records lost that way is kept and reported.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path


class DeadLetterStore:
    def __init__(self, path: Path, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.by_reason: Counter[str] = Counter()
        self.rotated_away = 0
        self._records_in_rotated = 0
        self._records_in_current = 0

    def put(self, topic: str, payload: bytes, reason: str, detail: str) -> None:
        record = {
            "time_us": time.time_ns() // 1000,
            "topic": topic,
            "reason": reason,
            "detail": detail,
            "payload_b64": base64.b64encode(payload).decode(),
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        with self._lock:
            self._rotate_if_full(len(line))
            # Durable before the caller acks the broker: a dead letter is the only copy.
            with self.path.open("ab") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._records_in_current += 1
            self.by_reason[reason] += 1

    def _rotate_if_full(self, incoming: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + incoming <= self.max_bytes:
            return
        self.rotated_away += self._records_in_rotated
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._records_in_rotated = self._records_in_current
        self._records_in_current = 0

    def read(self) -> list[dict]:
        """Records in the current file, oldest first (for tools and tests)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f]
