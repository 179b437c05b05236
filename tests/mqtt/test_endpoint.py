import pytest

from gaitlink.mqtt.endpoint import Endpoint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:1884", Endpoint("127.0.0.1", 1884)),
        ("mqtt://broker.local:1883", Endpoint("broker.local", 1883)),
        ("pi.local", Endpoint("pi.local", 1883)),
        ("mqtts://cloud.example:8884", Endpoint("cloud.example", 8884, tls=True)),
        ("mqtts://cloud.example", Endpoint("cloud.example", 8883, tls=True)),
    ],
)
def test_endpoint__valid(text, expected):
    assert Endpoint.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://host:80", "expected host:port"),
        ("host:99999", "port"),
        (":1883", "expected"),
        ("mqtt://gw:secret@host:2000", "no credentials in the address"),
        ("gw@host", "no credentials in the address"),
    ],
)
def test_endpoint__invalid(text, message):
    with pytest.raises(ValueError, match=message) as caught:
        Endpoint.parse(text, what="--site")
    assert "secret" not in str(caught.value)


def test_endpoint__prints_and_reprs_without_the_password():
    endpoint = Endpoint("host", 1883).with_login("gw", "s3cret-pw")
    assert "s3cret-pw" not in f"{endpoint} {endpoint!r}" and "gw" not in str(endpoint)
