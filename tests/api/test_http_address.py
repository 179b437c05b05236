"""`gaitlink ingest run --http`: an HTTP listen address, not an MQTT endpoint."""

import pytest

from gaitlink.cloud.ingest.cli import http_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0", ("0.0.0.0", 8080)),
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("http://localhost:8081", ("localhost", 8081)),
        ("[::1]:8080", ("::1", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
    ],
)
def test_http_address__valid(text, expected):
    assert http_address(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mqtt://host:1883", "expected host:port"),
        ("host:99999", "port must be"),
        ("host:http", "port must be"),
        ("user:pw@host:80", "no user or password"),
        ("host:80/path", "expected host:port"),
        ("", "expected host:port"),
    ],
)
def test_http_address__invalid(text, problem):
    with pytest.raises(ValueError, match=problem):
        http_address(text)
