"""The gateway's encoder of the frame batch (docs/protocol.md §2.5).

Several IMU frames of one device in one MQTT message to the cloud broker, so that a
backlog or a burst costs one publish and one PUBACK per batch instead of per frame. The
frames go in unchanged; the ingest takes each through the same path as a frame of its
own. The cloud's decoder (cloud/protocol/batch.py) shares no code with this one, only the
document and the golden vectors in tests/golden/imu_batches_v1.json.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gaitlink.gateway.spool import Stored

MAGIC = b"GB"
VERSION = 1
MAX_FRAMES = 1000  # the decoder's bound (§2.5)
HEADER = struct.Struct("<2sBBH")  # magic, version, flags (reserved, 0), frame count
LENGTH = struct.Struct("<I")
# What a batch adds to its frames: the header, and a length before each frame.
HEADER_BYTES = HEADER.size
PER_FRAME_BYTES = LENGTH.size
# Only device frames are batched (`gaitlink/v1/{device}/imu`); env, status and reports go
# as they came.
_IMU_SUFFIX = "/imu"


def encode_batch(frames: Sequence[bytes]) -> bytes:
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise ValueError(f"a batch holds 1..{MAX_FRAMES} frames, not {len(frames)}")
    parts = [HEADER.pack(MAGIC, VERSION, 0, len(frames))]
    length = LENGTH.pack
    for frame in frames:
        parts.append(length(len(frame)))
        parts.append(frame)
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for the cloud broker and the spool ids its PUBACK deletes."""

    topic: str
    payload: bytes
    ids: tuple[int, ...]


class _Group:
    __slots__ = ("bytes", "rows")

    def __init__(self, row: Stored, size: int) -> None:
        self.rows = [row]
        self.bytes = HEADER_BYTES + size


def pack(rows: Iterable[Stored], max_frames: int, max_bytes: int) -> list[Outgoing]:
    """The cloud messages for spooled rows (oldest first): consecutive `imu` frames of one
    device go in batches of at most `max_frames` frames and `max_bytes` bytes; a batch of
    one frame, or any other message, goes as it came. Only the rows given are packed,
    nothing waits for more, so a batch never adds latency. Per device the messages keep
    the rows' order: another message of a device first sends that device's open batch."""
    out: list[Outgoing] = []
    groups: dict[str, _Group] = {}

    def close(device: str) -> None:
        group = groups.pop(device, None)
        if group is not None:
            out.append(_outgoing(group.rows))

    for row in rows:
        if max_frames < 2 or not row.topic.endswith(_IMU_SUFFIX):
            close(row.device)
            out.append(Outgoing(row.topic, row.payload, (row.id,)))
            continue
        size = PER_FRAME_BYTES + len(row.payload)
        group = groups.get(row.device)
        if group is not None and (len(group.rows) >= max_frames or group.bytes + size > max_bytes):
            close(row.device)
            group = None
        if group is None:
            groups[row.device] = _Group(row, size)
        else:
            group.rows.append(row)
            group.bytes += size
    for device in list(groups):
        close(device)
    return out


def _outgoing(rows: list[Stored]) -> Outgoing:
    if len(rows) == 1:
        (row,) = rows
        return Outgoing(row.topic, row.payload, (row.id,))
    return Outgoing(
        rows[0].topic + "/batch",
        encode_batch([row.payload for row in rows]),
        tuple(row.id for row in rows),
    )
