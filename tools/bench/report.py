"""Markdown tables for the benchmark reports."""

from __future__ import annotations

import math
from collections.abc import Sequence


def fmt(value: object) -> str:
    """A cell: NaN/None as '–', floats with a precision that suits their size."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        size = abs(value)
        if size >= 1e4:
            return f"{value:.3g}"
        if size >= 100:
            return f"{value:.0f}"
        if size >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
