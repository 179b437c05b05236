"""Secrets stay secret: files 0600 made atomically, exposed files refused, nothing in argv,
URLs, logs or error messages."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gaitlink.secrets import SecretError, read_secret, redact, write_secret
from gaitlink.tools.device import start_device
from gaitlink.tools.services import ingest_metrics
from gaitlink.tools.stack import accounts, find_binary
from tests.integration.pipeline import device_publisher, running_pipeline, wait_until


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_secret__is_0600_whatever_the_umask_and_leaves_no_temp_file(tmp_path):
    old = os.umask(0)
    try:
        path = write_secret(tmp_path / "dir" / "key", "s3cret\n")
        write_secret(path, "s3cret-2\n")  # replacing keeps the mode
    finally:
        os.umask(old)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert read_secret(path) == "s3cret-2"
    assert [p.name for p in path.parent.iterdir()] == ["key"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_read_secret__refuses_a_file_others_can_read(tmp_path, mode):
    path = tmp_path / "pw"
    path.write_text("hunter2")
    path.chmod(mode)
    with pytest.raises(SecretError, match="chmod 600") as caught:
        read_secret(path)
    assert "hunter2" not in str(caught.value)


def test_redact__strips_userinfo_from_every_address():
    text = "to mqtt://gw:pw1@host:1883 and http://u:pw2@127.0.0.1:8086/x, also gw:pw3@pi:1"
    assert redact(text) == "to mqtt://host:1883 and http://127.0.0.1:8086/x, also pi:1"


@pytest.mark.parametrize(
    "args",
    [
        ("gateway", "run", "--site", "mqtt://gw:pw-in-url@127.0.0.1:1"),
        ("gateway", "run", "--cloud", "mqtts://gw:pw-in-url@127.0.0.1:99999"),
        ("ingest", "run", "--mqtt", "ingest:pw-in-url@127.0.0.1:1"),
        ("ingest", "run", "--influx-url", "http://writer:pw-in-url@127.0.0.1:1"),
    ],
)
def test_cli__refuses_credentials_in_an_address_without_echoing_them(args):
    result = _cli(*args)
    assert result.returncode == 2, result.stderr
    assert "no credentials in the" in result.stderr and "Traceback" not in result.stderr
    assert "pw-in-url" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("gateway", "run"), {"GAITLINK_GATEWAY_SITE__USERNAME": "gw",
                              "GAITLINK_GATEWAY_SITE__PASSWORD_FILE": "{file}"}),
        (("gateway", "run"), {"GAITLINK_GATEWAY_CLOUD__USERNAME": "gw",
                              "GAITLINK_GATEWAY_CLOUD__PASSWORD_FILE": "{file}"}),
        (("ingest", "run", "--mqtt-user", "ingest", "--mqtt-password-file", "{file}"), {}),
        (("ingest", "run", "--influx-user", "writer", "--influx-password-file", "{file}"), {}),
    ],
)  # fmt: skip
def test_cli__refuses_a_world_readable_password_file(tmp_path, args, env):
    password_file = tmp_path / "pw"
    password_file.write_text("world-can-read-this\n")
    password_file.chmod(0o644)
    result = _cli(
        *(a.format(file=password_file) for a in args),
        env={k: v.format(file=password_file) for k, v in env.items()},
    )
    assert result.returncode == 2, result.stderr
    assert f"{password_file} is readable by others (mode 0644)" in result.stderr
    assert f"chmod 600 {password_file}" in result.stderr
    assert "Traceback" not in result.stderr and "world-can-read-this" not in result.stderr


def test_device_json__holding_the_passwords_is_0600(tmp_path):
    dev = start_device(
        "sec-file", "127.0.0.1", 1, seed=1, rate_hz=30, max_samples=1, state_dir=tmp_path,
        extra={"mqtt_user": "sec-file", "mqtt_password": "pw", "wifi_password": "wpw"},
    )  # fmt: skip
    dev.kill()
    assert _mode(tmp_path / "sec-file" / "device.json") == 0o600


def test_stack__every_secret_file_is_private(stack):
    stack.add_device("sec-private")
    secrets = accounts.secrets_dir(stack.state_dir)
    files = [p for p in secrets.rglob("*") if p.is_file()]
    files += [
        stack.state_dir / b / n for b in ("site_broker", "cloud_broker") for n in ("passwd", "acl")
    ]
    assert len(files) >= 8
    assert {p: _mode(p) for p in files} == dict.fromkeys(files, 0o600)
    assert all(_mode(d) == 0o700 for d in secrets.iterdir() if d.is_dir())


def test_broker_password_file__holds_hashes_only(stack):
    device = stack.add_device("sec-hash")
    passwd = (stack.state_dir / "site_broker" / "passwd").read_text()
    assert f"{device.username}:$7$101$" in passwd and device.password not in passwd


def test_mosquitto_hash__matches_mosquitto_passwd():
    # The hash of our own code, with mosquitto_passwd's salt, is mosquitto_passwd's line.
    with tempfile.TemporaryDirectory() as tmp:
        passwd = Path(tmp) / "passwd"
        tool = str(find_binary("mosquitto_passwd"))
        subprocess.run([tool, "-c", "-b", str(passwd), "dev-1", "pä ss:wörd"], check=True)
        line = passwd.read_text().strip()
    salt = base64.b64decode(line.split("$")[3])
    assert line == "dev-1:" + accounts.mosquitto_hash("pä ss:wörd", salt)


def test_secrets__appear_in_no_argv_log_or_error(stack, tmp_path):
    device = stack.add_device("sec-leak")
    with running_pipeline(stack, tmp_path) as pipeline, device_publisher(stack, "sec-leak") as c:
        c.publish("gaitlink/v1/sec-leak/imu", b"not a frame", qos=1).wait_for_publish(5)
        wait_until(lambda: ingest_metrics(pipeline["http_port"])["dead_letters"] >= 1, 30, "dl")
        argvs = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p)]
    # A wrong password makes an error message too.
    wrong = tmp_path / "wrong.password"
    write_secret(wrong, "not-the-password\n")
    refused = _cli(
        "gateway", "run", "--site", stack.site_url, "--cloud", stack.cloud_url,
        "--duration", "1", "--spool-dir", str(tmp_path / "spool"), "--http", "",
        env={**stack.env(), "GAITLINK_GATEWAY_SITE__PASSWORD_FILE": str(wrong)},
    )  # fmt: skip
    assert refused.returncode == 2 and "refused the login" in refused.stderr, refused.stderr
    secrets = [
        read_secret(p) for p in accounts.secrets_dir(stack.state_dir).rglob("*.password")
    ] + ["not-the-password"]
    assert device.password in secrets and len(secrets) >= 8
    texts = {
        "argv": b"\n".join(argvs).decode(errors="replace"),
        "error": refused.stdout + refused.stderr,
    }
    logs = [tmp_path / "gateway.log", tmp_path / "ingest.log"]
    logs += [p for p in (tmp_path / "dead-letters").rglob("*") if p.is_file()]
    logs += [stack.log_path(name) for name in ("site_broker", "cloud_broker", "influxdb")]
    texts.update({str(p): p.read_text(errors="replace") for p in logs})
    assert "gateway ready" in texts[str(tmp_path / "gateway.log")]
    leaks = {where: [s for s in secrets if s in text] for where, text in texts.items()}
    assert {where: found for where, found in leaks.items() if found} == {}


def _readable(path: Path) -> bool:
    try:
        path.read_bytes()
    except OSError:  # the process ended meanwhile
        return False
    return True
