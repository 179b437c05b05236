"""The gateway's encoder of the frame batch (docs/protocol.md §2.5).

Several IMU frames of one device in one MQTT message to the cloud broker, so that a
backlog or a burst costs one publish and one PUBACK per batch instead of per frame. The
frames go in unchanged; the ingest takes each through the same path as a frame of its
own. The cloud's decoder (cloud/protocol/batch.py) shares no code with this one, only the
document and the golden vectors in tests/golden/imu_batches_v1.json.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

MAGIC = b"GB"
VERSION = 1
MAX_FRAMES = 1000  # the decoder's bound (§2.5)
HEADER = struct.Struct("<2sBBH")  # magic, version, flags (reserved, 0), frame count
LENGTH = struct.Struct("<I")
# What a batch adds to its frames: the header, and a length before each frame.
HEADER_BYTES = HEADER.size
PER_FRAME_BYTES = LENGTH.size


def encode_batch(frames: Sequence[bytes]) -> bytes:
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise ValueError(f"a batch holds 1..{MAX_FRAMES} frames, not {len(frames)}")
    parts = [HEADER.pack(MAGIC, VERSION, 0, len(frames))]
    length = LENGTH.pack
    for frame in frames:
        parts.append(length(len(frame)))
        parts.append(frame)
    return b"".join(parts)
