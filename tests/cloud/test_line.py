import pytest

from gaitlink.cloud.influx.line import LineProtocolError, Point, encode_point, tag_set


def test_encode_point__types_and_order():
    line = encode_point(
        Point("env", {"device": "d1", "a": "x"}, {"t": 1.5, "n": 3, "ok": True, "s": 'a"b'}, 7)
    )
    assert line == 'env,a=x,device=d1 t=1.5,n=3i,ok=true,s="a\\"b" 7'


def test_tag_set__escapes_specials_and_skips_empty():
    assert tag_set({"device": "a b,c=d", "empty": ""}) == r",device=a\ b\,c\=d"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_encode_point__invalid_non_finite(bad):
    with pytest.raises(LineProtocolError, match=r"env\.t"):
        encode_point(Point("env", {}, {"t": bad}, 1))


def test_encode_point__invalid_no_fields():
    with pytest.raises(LineProtocolError, match="no fields"):
        encode_point(Point("env", {}, {}, 1))
