"""Stage-3 checks: a frame or message that decodes, but cannot be true.

Decoding (stage 1 and 2, cloud.protocol) checks the bytes; these check the values against
the world: times against the ingest's clock and the device's provisioning date, scales
against what an IMU with 16-bit samples can have. What fails is not written; it becomes a
dead letter with the reason, replayable once the device (or the threshold) is fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from gaitlink.cloud.ingest.points import EPOCH, epoch_us
from gaitlink.cloud.protocol.frame import CHANNELS_ACC, CHANNELS_GYRO, Frame

_G = 9.80665
_COUNTS = 32768  # full scale of an int16 sample
# Full-scale ranges of real IMUs, with 1 % slack for calibrated scales: accelerometers
# ±1..±64 g, gyroscopes ±125..±4000 °/s. A scale outside makes every sample a fiction.
ACC_FULL_SCALE = (0.99 * _G, 1.01 * 64 * _G)  # m/s²
GYRO_FULL_SCALE = (0.99 * math.radians(125), 1.01 * math.radians(4000))  # rad/s

DEFAULT_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)


class Rejected(ValueError):
    """A frame or message that must not be written; `reason` names the dead-letter class."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """Data times the ingest believes: not ahead of its clock by more than `max_future_s`,
    not before `not_before` (the device's provisioning date replaces it when known)."""

    max_future_s: float = 300.0
    not_before: datetime = DEFAULT_NOT_BEFORE

    def check(self, first_us: int, last_us: int, now_us: int, provisioned: date | None) -> None:
        floor = datetime.combine(provisioned, time(), UTC) if provisioned else self.not_before
        if first_us < epoch_us(floor):
            raise Rejected(
                "time_out_of_range",
                f"starts at {_iso(first_us)}, before {floor.isoformat()} "
                f"({'provisioning date' if provisioned else 'earliest accepted time'})",
            )
        ahead_s = (last_us - now_us) / 1e6
        if ahead_s > self.max_future_s:
            raise Rejected(
                "time_out_of_range",
                f"ends at {_iso(last_us)}, {ahead_s:.0f} s ahead of the ingest's clock "
                f"(limit {self.max_future_s:g} s)",
            )


def check_scales(frame: Frame) -> None:
    for bit, name, scale, (low, high), unit in (
        (CHANNELS_ACC, "acc_scale", frame.acc_scale, ACC_FULL_SCALE, "m/s²"),
        (CHANNELS_GYRO, "gyro_scale", frame.gyro_scale, GYRO_FULL_SCALE, "rad/s"),
    ):
        full = scale * _COUNTS
        if frame.channels & bit and not low <= full <= high:
            raise Rejected(
                "bad_header",
                f"{name} {scale:.6g} means a full scale of ±{full:.4g} {unit}; "
                f"a real sensor has ±{low:.3g}..±{high:.4g}",
            )


def _iso(time_us: int) -> str:
    try:
        return (EPOCH + timedelta(microseconds=time_us)).isoformat(timespec="seconds")
    except OverflowError:
        return f"{time_us} µs since 1970"
