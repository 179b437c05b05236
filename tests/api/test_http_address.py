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


def _ingest(*args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "ingest", "run", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_ingest_cli__a_bad_http_address_is_one_line_naming_the_flag():
    result = _ingest("--http", "0.0.0.0:99999")
    assert result.returncode == 2
    assert "--http address '0.0.0.0:99999': port must be" in result.stderr
    assert "Traceback" not in result.stderr and "1883" not in result.stderr


def test_ingest_cli__refuses_an_api_key_file_others_can_read(tmp_path):
    from gaitlink.cloud.api.keystore import KeyFile

    keys = KeyFile(tmp_path / "api-keys.json")
    keys.create("admin", "admin")
    keys.path.chmod(0o644)
    result = _ingest("--api-keys", str(keys.path), "--dead-letters", str(tmp_path / "dl"))
    assert result.returncode == 2
    assert "chmod 600" in result.stderr and "Traceback" not in result.stderr
