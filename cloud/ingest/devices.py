"""What the ingest knows about each device: where it is worn, how it is mounted, and
since when it exists. The registry (cloud/registry) is the one source: `DeviceBook.registry`
reads it and rereads it whenever another connection committed to it (a `gaitlink device
provision` or `config set` while the ingest runs), so a device provisioned now is known at
its first message, without a restart. Data from a device the registry does not hold is a
dead letter (`unprovisioned`), replayable once it is provisioned; unless the ingest was told
to take such devices as worn at one placement (`--accept-unprovisioned`, for test rigs).

The axis map turns the device's sensor axes into the body frame of docs/gait.md (x forward,
y left, z up). It is written as three signed axis names, one per body axis: "x,y,z" is a
device mounted in the body frame; "-y,x,z" means body x = -device y, body y = device x.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
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


def read_profiles(path: Path) -> dict[str, DeviceProfile]:
    """The old `--devices` JSON file ({id: {placement, axis_map, provisioned}}): an import
    format of `gaitlink device import` only; ValueError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {dev: DeviceProfile.model_validate(p) for dev, p in raw.items()}
    except (OSError, ValueError, AttributeError, ValidationError) as exc:
        raise ValueError(f"device file {path}: {exc}") from None


def registry_profiles(
    conn: sqlite3.Connection, known: dict[tuple, DeviceProfile] | None = None
) -> dict[str, DeviceProfile]:
    """Every device of the registry as the ingest sees it. A provisioning time of 0 means
    unknown (imported without a date): the ingest's --not-before applies then.

    `known` (row -> profile, updated here) spares re-validating rows that did not change:
    the registry also changes for reasons the ingest ignores (a session, a report)."""
    known = {} if known is None else known
    profiles = {}
    rows = conn.execute("SELECT id, placement, axis_map, provisioned_us FROM device").fetchall()
    for row in set(known) - set(rows):  # changed or gone since
        del known[row]
    for row in rows:
        profile = known.get(row)
        if profile is None:
            _, placement, axis_map, us = row
            profile = known[row] = DeviceProfile(
                placement=placement,
                axis_map=axis_map,
                provisioned=datetime.fromtimestamp(us / 1e6, UTC).date() if us > 0 else None,
            )
        profiles[row[0]] = profile
    return profiles


class DeviceBook:
    """Profiles by device id, reloaded from their source when it changed.

    `default` is the profile of a device the source lacks; None refuses such a device
    (`Rejected("unprovisioned")`). `changed()` is cheap and is asked at most every
    `check_every_s` for a known device, and at once for an unknown one (so the first
    message of a device provisioned a moment ago finds it), except one looked up less than
    `miss_recheck_s` ago. Thread-safe: the worker thread and the event loop's views both
    read it.
    """

    def __init__(
        self,
        profiles: dict[str, DeviceProfile],
        default: DeviceProfile | None,
        *,
        load: Callable[[], dict[str, DeviceProfile]] | None = None,
        changed: Callable[[], bool] | None = None,
        check_every_s: float = 1.0,
        # An unknown id is looked up again at most this often, not at every message of its
        # stream: a device provisioned within this long after one of its messages was
        # refused may have its next one refused too (replayable).
        miss_recheck_s: float = 0.1,
    ) -> None:
        self._profiles = profiles
        self.default = default
        self._load = load
        self._changed = changed
        self._check_every_s = check_every_s
        self._miss_recheck_s = miss_recheck_s
        self._checked = time.monotonic()
        self._missed: dict[str, float] = {}  # unknown id -> when it was last looked up
        self._lock = threading.Lock()
        self._close: Callable[[], None] = lambda: None
        self._rotations: dict[tuple[str, int], np.ndarray] = {}

    @classmethod
    def registry(cls, path: Path, default: DeviceProfile | None, **kwargs) -> DeviceBook:
        """The registry's devices, through a read connection of the book's own (the app's
        connection belongs to the event loop's thread)."""
        from gaitlink.cloud.registry.db import open_registry

        conn = open_registry(path, any_thread=True)
        # data_version changes when another connection committed: a cheap change check.
        last = [conn.execute("PRAGMA data_version").fetchone()[0]]

        def changed() -> bool:
            now = conn.execute("PRAGMA data_version").fetchone()[0]
            was, last[0] = last[0], now
            return now != was

        known: dict[tuple, DeviceProfile] = {}
        book = cls(
            registry_profiles(conn, known),
            default,
            load=lambda: registry_profiles(conn, known),
            changed=changed,
            **kwargs,
        )
        book._close = conn.close
        return book

    def close(self) -> None:
        with self._lock:
            self._close()
            self._load = self._changed = None

    @property
    def profiles(self) -> dict[str, DeviceProfile]:
        return dict(self._profiles)

    def _refresh(self, *, now: bool) -> None:
        if self._load is None or self._changed is None:
            return
        with self._lock:
            at = time.monotonic()
            if not now and at - self._checked < self._check_every_s:
                return
            self._checked = at
            if self._changed():
                self._profiles = self._load()

    def get(self, device: str) -> DeviceProfile | None:
        """The device's profile, or None when the source does not hold it."""
        self._refresh(now=False)
        profile = self._profiles.get(device)
        if profile is None:
            # At once for an id not missed lately; a stream from an unknown id (a test rig's,
            # or a flood) is looked up at most every miss_recheck_s, not per message.
            at = time.monotonic()
            last = self._missed.get(device)
            if last is None or at - last >= self._miss_recheck_s:
                if len(self._missed) >= 10_000:  # bounded: forget them all, check again
                    self._missed.clear()
                self._missed[device] = at
                self._refresh(now=True)
                profile = self._profiles.get(device)
        return profile

    def profile(self, device: str) -> DeviceProfile:
        """The device's profile (or the default); Rejected when it is not provisioned."""
        profile = self.get(device) or self.default
        if profile is None:
            # Here, not at the top: validate -> points -> protocol.config imports this module.
            from gaitlink.cloud.ingest.validate import Rejected

            raise Rejected(
                "unprovisioned",
                f"device {device} is not in the registry: `gaitlink device provision {device} "
                f"--placement …`, then `gaitlink deadletter replay --reason unprovisioned "
                f"--device {device}`",
            )
        return profile

    def to_body(self, device: str, samples: np.ndarray) -> np.ndarray:
        """(n, 3 or 6) device-frame SI samples (acc and/or gyro) -> body frame: one rotation
        for each sensor."""
        blocks = samples.shape[1] // 3
        # Keyed by the map, not the device: a `config set axis_map=…` takes effect at once.
        axis_map = self.profile(device).axis_map
        rotation = self._rotations.get((axis_map, blocks))
        if rotation is None:
            r = axis_matrix(axis_map)
            rotation = self._rotations[(axis_map, blocks)] = np.kron(np.eye(blocks), r).T
        return samples @ rotation
