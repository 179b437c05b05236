"""`gaitlink ingest run` options -> the service's settings: the shared InfluxDB options
(cloud.influx.options) and --writes-in-flight."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from gaitlink.cloud.ingest import cli


@pytest.fixture(autouse=True)
def _no_influx_env(monkeypatch):
    for name in ("URL", "DB", "USER", "PASSWORD", "PASSWORD_FILE", "TOKEN"):
        monkeypatch.delenv(f"GAITLINK_INFLUX_{name}", raising=False)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gaitlink")
    cli.register(parser.add_subparsers())
    return parser.parse_args(["ingest", "run", *argv])


def test_ingest_cli__writes_in_flight_reaches_the_settings():
    assert cli.settings_from(_parse()).writes_in_flight == 4
    assert cli.settings_from(_parse("--writes-in-flight", "16")).writes_in_flight == 16
    assert cli.settings_from(_parse("--writes-in-flight", "1")).writes_in_flight == 1


@pytest.mark.parametrize("value", ["0", "65", "-1", "four", "2.5", ""])
def test_ingest_cli__writes_in_flight_outside_1_to_64_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse("--writes-in-flight", value)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--writes-in-flight" in err and "from 1 to 64" in err


def test_ingest_cli__writes_in_flight_refusal_is_one_line_not_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "ingest", "run", "--writes-in-flight", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--writes-in-flight: '0': a whole number of batches from 1 to 64" in result.stderr


def test_ingest_cli__influx_options_are_the_shared_ones(tmp_path, monkeypatch):
    secret = tmp_path / "influx-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    monkeypatch.setenv("MY_INFLUX_TOKEN", "tok-123")
    settings = cli.settings_from(
        _parse(
            "--influx-url", "http://127.0.0.1:9999", "--database", "study",
            "--influx-user", "writer", "--influx-password-file", str(secret),
            "--influx-token-env", "MY_INFLUX_TOKEN",
        )
    )  # fmt: skip
    influx = settings.influx()
    assert (influx.url, influx.database, influx.username) == (
        "http://127.0.0.1:9999",
        "study",
        "writer",
    )
    assert (influx.password, influx.token) == ("s3cret", "tok-123")


def test_ingest_cli__influx_token_from_the_default_variable(monkeypatch):
    monkeypatch.setenv("GAITLINK_INFLUX_TOKEN", "tok-default")
    assert cli.settings_from(_parse()).influx_token == "tok-default"
    monkeypatch.delenv("GAITLINK_INFLUX_TOKEN")
    assert cli.settings_from(_parse()).influx_token is None
