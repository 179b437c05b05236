"""Which devices are online, from what the site broker hands the relay.

A device is `online` when its status says so or it sent anything within `timeout_s`, and
`offline` when its last will or status says so (docs/protocol.md §3.2) or it has been
silent for longer than `timeout_s`. Only the spool thread writes; readers (status, metrics)
get copies taken under the lock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from gaitlink.gateway.spool import device_of
from gaitlink.mqtt.link import Message

_STATES = ("online", "offline", "rebooting")


@dataclass(slots=True)
class DeviceSeen:
    last_seen: float
    messages: int = 0
    reported_state: str | None = None  # from its status / will


class Presence:
    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._devices: dict[str, DeviceSeen] = {}
        self._lock = threading.Lock()

    def saw(self, messages: Iterable[Message], now: float) -> None:
        with self._lock:
            for message in messages:
                device = device_of(message.topic)
                seen = self._devices.get(device)
                if seen is None:
                    seen = self._devices[device] = DeviceSeen(now)
                seen.last_seen = now
                seen.messages += 1
                if message.topic.endswith("/status"):
                    seen.reported_state = _state_of(message.payload)
                elif seen.reported_state != "online":
                    seen.reported_state = None  # traffic after a will: it is back

    def state(self, device: str, now: float) -> str:
        with self._lock:
            seen = self._devices.get(device)
            return "unknown" if seen is None else self._state(seen, now)

    def _state(self, seen: DeviceSeen, now: float) -> str:
        silent = now - seen.last_seen > self.timeout_s
        if seen.reported_state in ("offline", "rebooting"):
            return seen.reported_state
        return "offline" if silent else "online"

    def report(self, now: float) -> dict[str, dict]:
        with self._lock:
            return {
                device: {
                    "state": self._state(seen, now),
                    "last_seen_s": round(now - seen.last_seen, 3),
                    "messages": seen.messages,
                }
                for device, seen in sorted(self._devices.items())
            }

    def last_seen(self) -> dict[str, float]:
        with self._lock:
            return {device: seen.last_seen for device, seen in self._devices.items()}


def _state_of(payload: bytes) -> str | None:
    try:
        state = json.loads(payload).get("state")
    except (ValueError, AttributeError):
        return None  # a bad status is the ingest's to dead-letter; here it says nothing
    return state if state in _STATES else None
