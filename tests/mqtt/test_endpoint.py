import pytest

from gaitlink.mqtt.endpoint import Endpoint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:1884", Endpoint("127.0.0.1", 1884)),
        ("mqtt://broker.local:1883", Endpoint("broker.local", 1883)),
        ("pi.local", Endpoint("pi.local", 1883)),
        ("mqtt://gw:secret@host:2000", Endpoint("host", 2000, "gw", "secret")),
    ],
)
def test_endpoint__valid(text, expected):
    assert Endpoint.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("http://host:80", "expected host:port"), ("host:99999", "port"), (":1883", "expected")],
)
def test_endpoint__invalid(text, message):
    with pytest.raises(ValueError, match=message):
        Endpoint.parse(text, what="--site")
