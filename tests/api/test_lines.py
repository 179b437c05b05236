"""Reading back line protocol: everything cloud/influx/line.py writes parses to the same point."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.api.lines import LineError, parse_line, tags_of
from gaitlink.cloud.influx.line import Point, encode_point

_names = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: not s.startswith("#") and "\\" not in s
)
_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
)


@given(
    measurement=_names,
    tags=st.dictionaries(_names, _names, max_size=3),
    fields=st.dictionaries(_names, _values, min_size=1, max_size=5),
    time_us=st.integers(0, 2**62),
)
def test_parse_line__valid_round_trips_every_encoded_point(measurement, tags, fields, time_us):
    point = parse_line(encode_point(Point(measurement, tags, fields, time_us)))
    assert point.measurement == measurement
    assert point.tags == tags
    assert point.fields == fields
    assert point.time_us == time_us


@pytest.mark.parametrize(
    "line", ["imu", "imu ax=1.0 notatime", "imu ax 1", 'imu ax="x 1', "imu ax=abc 1"]
)
def test_parse_line__invalid(line):
    with pytest.raises(LineError):
        parse_line(line)


def test_tags_of__the_tags_without_the_fields():
    line = r'gait_cycle,device=a\ b,placement=foot cadence=1.0,reason="x y" 5'
    assert tags_of(line) == {"device": "a b", "placement": "foot"}
    assert tags_of("env temperature=1.0 5") == {}
    with pytest.raises(LineError):
        tags_of(",device=x v=1 5")
