"""A test-side encoder for protocol v1 frames, written from docs/protocol.md §2.

It exists so the decoder can be property-tested over inputs no golden vector covers. It
is deliberately separate from the firmware encoder (MicroPython): the golden vectors pin
both to the same bytes.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

HEADER = struct.Struct("<2sBBIIqIHBBffHH")


def encode_frame(
    counts: np.ndarray,
    *,
    boot_id: int = 1,
    seq: int = 0,
    t0_us: int = 1_700_000_000_000_000,
    period_us: int = 10_000,
    flags: int = 0,
    channels: int = 0x03,
    acc_scale: float = 0.0011971008,
    gyro_scale: float = 0.00053263221,
    quality: int = 0,
    version: int = 1,
    magic: bytes = b"GL",
) -> bytes:
    counts = np.asarray(counts, dtype="<i2")
    header = HEADER.pack(
        magic, version, flags, boot_id, seq, t0_us, period_us, counts.shape[0], channels, 0,
        acc_scale, gyro_scale, quality, 0,
    )  # fmt: skip
    body = header + counts.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def drifting_offsets(n_frames: int, step_us: int = 600) -> np.ndarray:
    """Each frame's t0 minus its place on the nominal grid: the device clock gains `step_us`
    a frame for half the frames, then loses it again (a slew both ways, within the quarter
    period a frame may move, protocol §2.1). 80 frames of 10 ms samples reach 2.4 periods:
    the offset crosses half a period and more on the way out and back."""
    half = n_frames // 2
    steps = np.where(np.arange(n_frames) < half, step_us, -step_us)
    return np.concatenate(([0], np.cumsum(steps[1:])))
