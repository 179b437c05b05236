"""Decoder for the frame batch of protocol v1 (docs/protocol.md §2.5).

A gateway packs several IMU frames of one device into one MQTT message on
`gaitlink/v1/{device}/imu/batch`, to spend one publish and one PUBACK on many frames. The
batch is only an envelope: each inner frame is a v1 frame exactly as the device sent it,
and the ingest takes each through the same path as a frame of its own. This module only
splits the envelope; it never looks inside a frame (a bad frame costs only itself).

The gateway's encoder (gateway/batch.py) shares no code with this one, only the document
and the golden vectors in tests/golden/imu_batches_v1*.json.
"""

from __future__ import annotations

import struct

MAGIC = b"GB"
VERSION = 1
MAX_FRAMES = 1000
# magic, version, flags (reserved, sent 0), frame count
HEADER = struct.Struct("<2sBBH")
LENGTH = struct.Struct("<I")

REJECT_REASONS = (
    "batch_short",
    "batch_bad_magic",
    "batch_bad_version",
    "batch_bad_count",
    "batch_bad_length",
)


class BatchError(ValueError):
    """An envelope that must not be split; `reason` is one of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def decode_batch(data: bytes | bytearray | memoryview) -> list[bytes]:
    """The inner frames' bytes, in order. Raises BatchError when the envelope is broken;
    then no frame is returned, since a length that cannot be trusted cannot place any."""
    data = bytes(data)
    if len(data) < HEADER.size:
        raise BatchError("batch_short", f"{len(data)} bytes, a batch header has {HEADER.size}")
    magic, version, _flags, count = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BatchError("batch_bad_magic", f"starts with {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise BatchError("batch_bad_version", f"version {version}, this decoder reads {VERSION}")
    if not 1 <= count <= MAX_FRAMES:
        raise BatchError("batch_bad_count", f"{count} frames, allowed 1..{MAX_FRAMES}")
    frames = []
    pos = HEADER.size
    for i in range(count):
        if pos + LENGTH.size > len(data):
            raise BatchError(
                "batch_bad_length", f"ends before the length of frame {i + 1} of {count}"
            )
        (n,) = LENGTH.unpack_from(data, pos)
        pos += LENGTH.size
        if pos + n > len(data):
            raise BatchError(
                "batch_bad_length",
                f"frame {i + 1} of {count} says {n} bytes, {len(data) - pos} are left",
            )
        frames.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise BatchError(
            "batch_bad_length", f"{len(data) - pos} bytes left after the {count} frames"
        )
    return frames
