"""What the ingest knows about each device: where it is worn and how it is mounted.

The axis map turns the device's sensor axes into the body frame of docs/gait.md (x forward,
y left, z up). It is written as three signed axis names, one per body axis: "x,y,z" is a
device mounted in the body frame; "-y,x,z" means body x = -device y, body y = device x.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

Placement = Literal["foot", "shank", "lower_back"]


def axis_matrix(axis_map: str) -> np.ndarray:
    """The 3x3 signed permutation for an axis map; ValueError naming the problem."""
    parts = [p.strip() for p in axis_map.split(",")]
    if len(parts) != 3:
        raise ValueError(f"axis_map {axis_map!r}: expected three axes like 'x,y,z' or '-y,x,z'")
    matrix = np.zeros((3, 3))
    for body_axis, part in enumerate(parts):
        sign = -1.0 if part.startswith("-") else 1.0
        name = part.lstrip("+-")
        if name not in ("x", "y", "z"):
            raise ValueError(f"axis_map {axis_map!r}: {part!r} is not one of ±x, ±y, ±z")
        matrix[body_axis, "xyz".index(name)] = sign
    if sorted(abs(matrix).argmax(axis=1)) != [0, 1, 2]:
        raise ValueError(f"axis_map {axis_map!r}: each device axis must be used exactly once")
    if np.linalg.det(matrix) < 0:
        raise ValueError(f"axis_map {axis_map!r} is a mirror image; the body frame is right-handed")
    return matrix


class DeviceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    placement: Placement = "foot"
    axis_map: str = "x,y,z"
    # Data from before this day cannot be the device's (stage-3 check, validate.py).
    provisioned: date | None = None

    @field_validator("axis_map")
    @classmethod
    def _valid_axis_map(cls, value: str) -> str:
        axis_matrix(value)
        return value


class DeviceBook:
    """Profiles by device id, with a default for devices not listed."""

    def __init__(self, profiles: dict[str, DeviceProfile], default: DeviceProfile) -> None:
        self._profiles = profiles
        self.default = default
        self._rotations: dict[tuple[str, int], np.ndarray] = {}

    @classmethod
    def load(cls, path: Path | None, default: DeviceProfile) -> DeviceBook:
        if path is None:
            return cls({}, default)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            profiles = {dev: DeviceProfile.model_validate(p) for dev, p in raw.items()}
        except (OSError, ValueError, AttributeError, ValidationError) as exc:
            raise ValueError(f"device file {path}: {exc}") from None
        return cls(profiles, default)

    @property
    def profiles(self) -> dict[str, DeviceProfile]:
        return dict(self._profiles)

    def profile(self, device: str) -> DeviceProfile:
        return self._profiles.get(device, self.default)

    def to_body(self, device: str, samples: np.ndarray) -> np.ndarray:
        """(n, 3 or 6) device-frame SI samples (acc and/or gyro) -> body frame: one rotation
        for each sensor."""
        blocks = samples.shape[1] // 3
        rotation = self._rotations.get((device, blocks))
        if rotation is None:
            r = axis_matrix(self.profile(device).axis_map)
            rotation = self._rotations[(device, blocks)] = np.kron(np.eye(blocks), r).T
        return samples @ rotation
