"""Remote device configuration (docs/protocol.md §3.3, §3.4): the fields an operator may
set, their checks, the signed `config/desired` message and the device's `config/reported`.

The checks mirror the firmware's (firmware/config.py), so a bad value is refused at the
operator's command instead of being sent to every device to be rejected there; the device
checks again, because it trusts nothing it did not verify itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gaitlink.cloud.ingest.devices import axis_matrix
from gaitlink.cloud.protocol.messages import DeviceId

RANGE_QUANTITIES = ("ax", "ay", "az", "gx", "gy", "gz", "temperature", "humidity", "pressure")
KEY_BYTES = 32

Period = Annotated[int, Field(ge=1, le=86400, strict=True)]
# calibration offsets on the sensor's axes, subtracted on the device (firmware/rules.py:
# the same bounds)
AccOffset = Annotated[float, Field(ge=-20.0, le=20.0)]  # m/s², ~2 g
GyroOffset = Annotated[float, Field(ge=-1.0, le=1.0)]  # rad/s, ~57 °/s


class RemoteConfig(BaseModel):
    """Every field a desired config may carry; a field left out keeps the device's value."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    rate_hz: Annotated[int, Field(ge=4, le=1000, strict=True)] | None = None
    samples_per_frame: Annotated[int, Field(ge=1, le=200, strict=True)] | None = None
    acc_range_g: Literal[2, 4, 8, 16] | None = None
    gyro_range_dps: Literal[250, 500, 1000, 2000] | None = None
    range_checks: dict[str, tuple[float, float]] | None = None
    status_period_s: Period | None = None
    env_period_s: Period | None = None
    axis_map: str | None = None
    acc_offset: tuple[AccOffset, AccOffset, AccOffset] | None = None
    gyro_offset: tuple[GyroOffset, GyroOffset, GyroOffset] | None = None

    @field_validator("rate_hz")
    @classmethod
    def _divides_1000(cls, value: int | None) -> int | None:
        # the MPU-6050 divides a 1 kHz clock: other rates are not exact
        if value is not None and 1000 % value:
            raise ValueError("must divide 1000 (e.g. 50, 100, 200)")
        return value

    @field_validator("range_checks")
    @classmethod
    def _known_limits(cls, value: dict | None) -> dict | None:
        for name, (low, high) in (value or {}).items():
            if name not in RANGE_QUANTITIES:
                raise ValueError(f"{name!r} is not one of {', '.join(RANGE_QUANTITIES)}")
            if low > high:
                raise ValueError(f"{name}: low {low} is above high {high}")
        return value

    @field_validator("axis_map")
    @classmethod
    def _axis_map(cls, value: str | None) -> str | None:
        if value is not None:
            axis_matrix(value)
        return value

    def values(self) -> dict:
        """The fields set, as the device gets them."""
        return self.model_dump(exclude_none=True, mode="json")


def config_text(values: dict) -> str:
    """The config as sent: compact JSON, keys sorted, so equal configs read the same."""
    return json.dumps(values, separators=(",", ":"), sort_keys=True)


def signature(key: bytes, version: int, text: str) -> str:
    """HMAC-SHA256 with the device's key over `str(version) + "\\n" + config`."""
    return hmac.new(key, f"{version}\n{text}".encode(), hashlib.sha256).hexdigest()


def desired_message(version: int, text: str, sig: str, issued: str) -> bytes:
    return json.dumps({"version": version, "issued": issued, "config": text, "sig": sig}).encode()


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ConfigReport(BaseModel):
    """`config/reported`: what the device runs, and what became of the desired version."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)
    device_id: DeviceId
    version: int = Field(ge=0)
    status: Literal["applied", "rejected"]
    error: str | None = None
    desired_version: int | None = None
    timestamp: datetime | None = None
    config: dict = Field(default_factory=dict)
