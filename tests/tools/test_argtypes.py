"""Range-checked argparse types, and the CLIs that use them refusing bad flags by name."""

import argparse
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.tools.argtypes import in_range


@given(st.integers(-(10**6), 10**6))
def test_in_range__an_int_is_kept_exactly_when_within_the_bounds(value):
    parse = in_range(int, 1, 50)
    if 1 <= value <= 50:
        assert parse(str(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="between 1 and 50"):
            parse(str(value))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_in_range__an_open_lower_bound_refuses_it_and_every_non_finite_value(value):
    parse = in_range(float, 0, low_open=True, unit="s")
    if math.isfinite(value) and value > 0:
        assert parse(repr(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="> 0 s"):
            parse(repr(value))


@pytest.mark.parametrize("text", ["", "3.5", "ten", "1e3"])
def test_in_range__an_int_that_is_not_one_is_named(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not an integer"):
        in_range(int, 0)(text)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["bench", "ingest", "--samples", "0"], "--samples"),
        (["bench", "ingest", "--bad-fraction", "0.9"], "--bad-fraction"),
        (["bench", "gateway", "--outage", "-1"], "--outage"),
        (["bench", "research", "--seconds", "10"], "--seconds"),
        (["bench", "firmware", "--warp", "-2"], "--warp"),
        (["demo", "--devices", "51"], "--devices"),
    ],
)
def test_cli__an_out_of_range_number_is_refused_naming_its_flag(argv, flag):
    result = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"argument {flag}:" in result.stderr
    assert "Traceback" not in result.stderr
