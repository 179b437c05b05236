"""InfluxQL pieces of the research API: literals, time windows, and series as columns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np

_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def literal(value: str) -> str:
    """A string literal: single quotes, with backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def epoch_us(when) -> int:
    """µs since the Unix epoch of an int (µs), a zoned datetime/Timestamp or ISO 8601 text."""
    if isinstance(when, bool):
        raise TypeError("a time is an int (µs), a datetime or ISO 8601 text, not a bool")
    if isinstance(when, int | np.integer):
        return int(when)
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise ValueError(f"time {when!r} is not ISO 8601 (2026-05-01T10:00:00Z)") from None
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"time {when.isoformat()} has no zone: give it one (UTC, +02:00)")
        return (when - _UTC_EPOCH) // timedelta(microseconds=1)
    raise TypeError(f"cannot read a time from {type(when).__name__}")


def windows(start_us: int, end_us: int, chunk_us: int) -> Iterator[tuple[int, int]]:
    """[a, b) windows of at most ``chunk_us`` covering [start_us, end_us)."""
    a = start_us
    while a < end_us:
        b = min(a + chunk_us, end_us)
        yield a, b
        a = b


def time_range(start_us: int, end_us: int) -> str:
    return f"time >= {start_us}u AND time < {end_us}u"


def columns(series: list[dict]) -> dict[str, list]:
    """The rows of one or more series (same columns) as lists per column, tags included."""
    out: dict[str, list] = {}
    for s in series:
        n = len(s.get("values", ()))
        cols = list(zip(*s.get("values", ()), strict=True)) if n else [()] * len(s["columns"])
        for name, col in zip(s["columns"], cols, strict=True):
            out.setdefault(name, []).extend(col)
        for tag, value in s.get("tags", {}).items():
            out.setdefault(tag, []).extend([value] * n)
    return out


def floats(values: list) -> np.ndarray:
    """A float column; missing fields (None) become NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except TypeError:  # a None among them
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
