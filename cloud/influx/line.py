"""InfluxDB line protocol: escaping and the encoding of points.

Timestamps are integer microseconds since the Unix epoch; writes say `precision=u`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})

FieldValue = float | int | bool | str


class LineProtocolError(ValueError):
    """A point that cannot be written: the text names the measurement and field."""


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_us: int


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def tag_set(tags: Mapping[str, str]) -> str:
    """`,k=v,k=v` in sorted key order (InfluxDB's own order; it makes writes cheaper)."""
    return "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v != "")


def field_value(measurement: str, name: str, value: FieldValue) -> str:
    # bool before int: bool is an int subclass in Python.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"{measurement}.{name} is {value}: InfluxDB stores no NaN/inf")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise LineProtocolError(f"{measurement}.{name} has unsupported type {type(value).__name__}")


def encode_point(point: Point) -> str:
    if not point.fields:
        raise LineProtocolError(f"{point.measurement} point at {point.time_us} has no fields")
    fields = ",".join(
        f"{escape_tag(k)}={field_value(point.measurement, k, v)}"
        for k, v in point.fields.items()
        if v is not None
    )
    head = point.measurement.translate(_MEASUREMENT_ESCAPES) + tag_set(point.tags)
    return f"{head} {fields} {point.time_us}"
