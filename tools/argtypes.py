"""argparse types for numbers that must lie in a range.

A type that refuses a value makes argparse print `argument --flag: <why>` and exit 2, so every
CLI names the bad flag the same way without a validation block of its own.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def in_range(
    kind: type[int] | type[float],
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    unit: str = "",
) -> Callable[[str], int | float]:
    """A parser of `kind` for low <= value <= high (low < value if `low_open`)."""
    bounds = _describe(low, high, low_open, unit)

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        return value

    parse.__name__ = kind.__name__  # argparse's fallback message says "invalid int value"
    return parse


def _describe(low: float | None, high: float | None, low_open: bool, unit: str) -> str:
    suffix = f" {unit}" if unit else ""
    if low is not None and high is not None:
        if low_open:
            return f"> {low:g} and <= {high:g}{suffix}"
        return f"between {low:g} and {high:g}{suffix}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}{suffix}"
    if high is not None:
        return f"<= {high:g}{suffix}"
    return "a finite number"
