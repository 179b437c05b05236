"""Parsing the topic tree of docs/protocol.md §1 on the cloud side."""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "gaitlink/v1/"
INGEST_FILTERS = (
    PREFIX + "+/imu",
    PREFIX + "+/env",
    PREFIX + "+/status",
    PREFIX + "+/config/reported",
    # Frames of one device packed by a gateway (docs/protocol.md §2.5).
    PREFIX + "+/imu/batch",
)
KINDS = ("imu", "env", "status", "config/reported", "imu/batch")
_DEVICE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


class TopicError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Topic:
    device: str
    kind: str


def valid_device_id(device: str) -> bool:
    """Whether ``device`` is a device id the topic tree allows ([a-z0-9-], 1-32 chars)."""
    return _DEVICE.fullmatch(device) is not None


def parse_topic(topic: str) -> Topic:
    if not topic.startswith(PREFIX):
        raise TopicError(f"topic {topic!r} is not under {PREFIX}")
    device, _, kind = topic[len(PREFIX) :].partition("/")
    if not valid_device_id(device):
        raise TopicError(f"topic {topic!r}: device id {device!r} is not [a-z0-9-], 1-32 chars")
    if kind not in KINDS:
        raise TopicError(f"topic {topic!r}: unknown message kind {kind!r}")
    return Topic(device, kind)
