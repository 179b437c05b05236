"""Decoder for the binary IMU frame of protocol v1 (docs/protocol.md §2).

The firmware encodes frames in MicroPython; this module decodes them in CPython. The two
never share code, only the document and the golden vectors in tests/golden/.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"GL"
VERSION = 1
MAX_SAMPLES = 200
# magic, version, flags, boot_id, seq, t0_us, period_us, n_samples, channels, reserved,
# acc_scale, gyro_scale, quality, reserved
HEADER = struct.Struct("<2sBBIIqIHBBffHH")
CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + CRC.size

FLAG_TIME_SYNCED = 0x01
FLAG_RESENT = 0x02

CHANNELS_ACC = 0x01
CHANNELS_GYRO = 0x02
_KNOWN_CHANNELS = CHANNELS_ACC | CHANNELS_GYRO

# Quality bits (protocol §2.2): the cloud's one table of them. Bits 0-5 come from the
# device; bit 15 only the ingest sets, on the samples it stores of a frame that did not
# fit its device's timeline (`seq_jump`). tests/cloud/test_frame.py holds this table to
# the firmware's constants and to the document.
QUALITY_ACC_CLIPPED = 0x0001
QUALITY_GYRO_CLIPPED = 0x0002
QUALITY_RANGE_VIOLATION = 0x0004
QUALITY_OVERRUN = 0x0008
QUALITY_SENSOR_ERROR = 0x0010
QUALITY_SENSOR_STUCK = 0x0020
QUALITY_SEQ_JUMP = 0x8000
QUALITY_BITS: dict[str, int] = {
    "ACC_CLIPPED": QUALITY_ACC_CLIPPED,
    "GYRO_CLIPPED": QUALITY_GYRO_CLIPPED,
    "RANGE_VIOLATION": QUALITY_RANGE_VIOLATION,
    "OVERRUN": QUALITY_OVERRUN,
    "SENSOR_ERROR": QUALITY_SENSOR_ERROR,
    "SENSOR_STUCK": QUALITY_SENSOR_STUCK,
    "SEQ_JUMP": QUALITY_SEQ_JUMP,
}

REJECT_REASONS = ("short", "bad_magic", "bad_version", "bad_crc", "bad_length", "bad_header")


class FrameError(ValueError):
    """A frame that must not be decoded; `reason` is one of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    version: int
    flags: int
    boot_id: int
    seq: int
    t0_us: int
    period_us: int
    channels: int
    acc_scale: float
    gyro_scale: float
    quality: int
    counts: np.ndarray  # (n_samples, n_channels) int16, device frame

    @property
    def n_samples(self) -> int:
        return int(self.counts.shape[0])

    def timestamps_us(self) -> np.ndarray:
        return self.t0_us + self.period_us * np.arange(self.n_samples, dtype=np.int64)

    def physical(self) -> np.ndarray:
        """Samples in SI units (m/s², rad/s), float64, still in the device frame."""
        scale = np.array(
            [self.acc_scale] * 3 * bool(self.channels & CHANNELS_ACC)
            + [self.gyro_scale] * 3 * bool(self.channels & CHANNELS_GYRO)
        )
        return self.counts * scale


def channel_names(channels: int) -> tuple[str, ...]:
    """Column names of a frame's samples, in wire order: ax ay az, then gx gy gz."""
    return ("ax", "ay", "az") * bool(channels & CHANNELS_ACC) + ("gx", "gy", "gz") * bool(
        channels & CHANNELS_GYRO
    )


def quality_names(quality: int) -> tuple[str, ...]:
    """The names of the bits set in a `quality` word, in bit order; a bit the protocol
    reserves is named `bit<N>`, so nothing set is ever hidden."""
    if not 0 <= quality <= 0xFFFF:
        raise ValueError(f"quality {quality} is not a 16-bit word")
    by_bit = {bit: name for name, bit in QUALITY_BITS.items()}
    return tuple(by_bit.get(1 << n, f"bit{n}") for n in range(16) if quality & (1 << n))


def channel_count(channels: int) -> int:
    return 3 * bin(channels & _KNOWN_CHANNELS).count("1")


def decode(data: bytes | bytearray | memoryview) -> Frame:
    data = bytes(data)
    if len(data) < OVERHEAD:
        raise FrameError("short", f"{len(data)} bytes, a frame has at least {OVERHEAD}")
    (magic, version, flags, boot_id, seq, t0_us, period_us, n, channels, _r1,
     acc_scale, gyro_scale, quality, _r2) = HEADER.unpack_from(data)  # fmt: skip
    if magic != MAGIC:
        raise FrameError("bad_magic", f"starts with {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise FrameError("bad_version", f"version {version}, this decoder reads {VERSION}")
    # Length before CRC: a truncated frame is reported as truncated, not as corrupt.
    c = channel_count(channels)
    expected = OVERHEAD + 2 * c * n
    if len(data) != expected:
        raise FrameError(
            "bad_length", f"{len(data)} bytes, header says {n} samples x {c} channels = {expected}"
        )
    (crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    actual = zlib.crc32(data[: -CRC.size])
    if crc != actual:
        raise FrameError("bad_crc", f"crc32 field {crc:#010x}, computed {actual:#010x}")
    if not 1 <= n <= MAX_SAMPLES:
        raise FrameError("bad_header", f"n_samples {n} outside 1..{MAX_SAMPLES}")
    if channels == 0 or channels & ~_KNOWN_CHANNELS:
        raise FrameError("bad_header", f"channel set {channels:#04x} is empty or has reserved bits")
    if period_us == 0:
        raise FrameError("bad_header", "period_us is 0")
    for name, scale in (("acc_scale", acc_scale), ("gyro_scale", gyro_scale)):
        if not (math.isfinite(scale) and scale > 0):
            raise FrameError("bad_header", f"{name} {scale} is not finite and positive")
    counts = np.frombuffer(data, dtype="<i2", count=n * c, offset=HEADER.size).reshape(n, c)
    return Frame(
        version=version,
        flags=flags,
        boot_id=boot_id,
        seq=seq,
        t0_us=t0_us,
        period_us=period_us,
        channels=channels,
        acc_scale=acc_scale,
        gyro_scale=gyro_scale,
        quality=quality,
        counts=counts,
    )
