"""Variable names of the IMU channels, after LocoHub's `<segment>_<quantity>_<axis>_<side>_<unit>`.

The body frame of docs/gait.md has x forward, y left, z up, so the axes are named by the
anatomical direction they point along: `ap` (anterior-posterior, x), `ml`
(medio-lateral, y) and `vt` (vertical, z). Angular velocity about y is the sagittal-plane
rotation (flexion/extension): `shank_angular_velocity_ml_ipsi_rad_s`. The side is `ipsi`:
the sensor's foot is the foot whose cycle it is. A lower-back sensor sits on the pelvis
and has no side (its left-foot cycles come mirrored from `cloud.gait`: `ml` points to the
contralateral side in every cycle). LocoHub's own validator knows only its kinematic and
kinetic variables, so these names are ours, in its spirit.
"""

from __future__ import annotations

from gaitlink.cloud.gait.table import CHANNELS

SEGMENTS = {"foot": "foot", "shank": "shank", "lower_back": "pelvis"}
_QUANTITY = {"a": ("acceleration", "m_s2", "m/s²"), "g": ("angular_velocity", "rad_s", "rad/s")}
_AXIS = {"x": "ap", "y": "ml", "z": "vt"}

__all__ = ["CHANNELS", "SEGMENTS", "channel_of", "variable_name", "variable_unit"]


def variable_name(channel: str, placement: str) -> str:
    """`gy` on the shank -> `shank_angular_velocity_ml_ipsi_rad_s`."""
    quantity, unit, _ = _QUANTITY[channel[0]]
    side = "" if placement == "lower_back" else "_ipsi"
    return f"{SEGMENTS[placement]}_{quantity}_{_AXIS[channel[1]]}{side}_{unit}"


def variable_unit(channel: str) -> str:
    """The unit as people write it, for axis labels: m/s² or rad/s."""
    return _QUANTITY[channel[0]][2]


def channel_of(name: str, placement: str) -> str:
    """The channel (`gy`) of a channel or variable name; ValueError naming the choices."""
    if name in CHANNELS:
        return name
    for channel in CHANNELS:
        if variable_name(channel, placement) == name:
            return channel
    choices = ", ".join((*CHANNELS, *(variable_name(c, placement) for c in CHANNELS)))
    raise ValueError(f"unknown channel {name!r} for a {placement} sensor; choose from {choices}")
