"""`gaitlink gateway install` rendered into a temp root: the unit checked by systemd (or
parsed where systemd-analyze is missing), the broker config run by a real mosquitto."""

import configparser
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.gateway.install import (
    CONFIG_PATH,
    MOSQUITTO_PATH,
    UNIT_PATH,
    InstallError,
    InstallPlan,
    create_user,
    user_command,
    user_exists,
)
from gaitlink.tools.stack import find_binary, free_port
from tests.waiting import wait_until


def _install(root, *args):
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "gateway", "install", "--root", str(root),
         *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_install__writes_a_unit_that_systemd_accepts(tmp_path):
    result = _install(tmp_path, "--cloud", "cloud.example.org:8883", "--id", "pi-07")
    assert result.returncode == 0, result.stderr
    unit = tmp_path / UNIT_PATH
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # systemd keys are case-sensitive
    parsed.read(unit)
    service = parsed["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] == "gaitlink" and service["StateDirectory"] == "gaitlink-gateway"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/gaitlink-gateway"
    assert service["ExecStart"].endswith("gateway run --config /etc/gaitlink/gateway.toml")
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze:
        verify = subprocess.run(
            [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
        )
        # verify exits 0 on unknown keys and bad values but names the file: any line
        # about our unit is a mistake in it.
        complaints = [ln for ln in verify.stderr.splitlines() if unit.name in ln]
        assert verify.returncode == 0 and complaints == [], verify.stderr


def test_install__settings_file_is_valid_and_never_overwritten(tmp_path):
    from gaitlink.gateway.config import load

    assert _install(tmp_path, "--id", "pi-07").returncode == 0
    settings = load(tmp_path / CONFIG_PATH)
    assert settings.id == "pi-07" and str(settings.spool.dir) == "/var/lib/gaitlink-gateway"
    (tmp_path / CONFIG_PATH).write_text('id = "mine"\n')
    again = _install(tmp_path, "--id", "pi-08")
    assert again.returncode == 0 and "kept" in again.stdout
    assert (tmp_path / CONFIG_PATH).read_text() == 'id = "mine"\n'


def test_install__site_broker_runs_in_a_real_mosquitto_with_accounts_and_no_anonymous(tmp_path):
    from gaitlink.gateway.install import PASSWD_PATH, SITE_PASSWORD_PATH, write
    from gaitlink.secrets import read_secret
    from gaitlink.tools.stack.accounts import GATEWAY, mosquitto_hash

    port = free_port()
    plan = InstallPlan(tmp_path, site_port=port, site_listen="127.0.0.1", system_root=tmp_path)
    write(tmp_path, plan)
    for rel in (PASSWD_PATH, SITE_PASSWORD_PATH):
        assert (tmp_path / rel).stat().st_mode & 0o077 == 0, rel  # private
    # A device account as the docs add one (mosquitto_passwd writes the same hash).
    with (tmp_path / PASSWD_PATH).open("a") as f:
        f.write(f"dev-1:{mosquitto_hash('dev-1-secret')}\n")
    # The main file as Debian / Raspberry Pi OS ship it (persistence set there too), then
    # conf.d.
    main = tmp_path / "mosquitto.conf"
    main.write_text(
        f"persistence true\npersistence_location {tmp_path}/\n"
        f"log_dest file {tmp_path}/mosquitto.log\n"
        f"include_dir {(tmp_path / MOSQUITTO_PATH).parent}\nuser root\n"
    )
    broker = subprocess.Popen(
        [str(find_binary("mosquitto")), "-c", str(main)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    got: list[str] = []
    gateway = _client(GATEWAY, read_secret(tmp_path / SITE_PASSWORD_PATH))
    try:
        wait_until(lambda: _connects(gateway, port, broker, tmp_path), 10, "the gateway's login")
        subscribed = threading.Event()
        gateway.on_subscribe = lambda *_: subscribed.set()
        gateway.on_message = lambda c, u, m: got.append(m.topic)
        gateway.subscribe("gaitlink/v1/+/imu", qos=1)
        gateway.loop_start()
        assert subscribed.wait(10)
        assert _refused(port, None, None)  # anonymous
        assert _refused(port, "dev-1", "wrong")
        device = _client("dev-1", "dev-1-secret")
        device.connect("127.0.0.1", port)
        device.loop_start()
        device.publish("gaitlink/v1/dev-2/imu", b"not mine", qos=1).wait_for_publish(10)
        device.publish("gaitlink/v1/dev-1/imu", b"mine", qos=1).wait_for_publish(10)
        wait_until(lambda: got, 10, "the device's own frame at the gateway")
        assert got == ["gaitlink/v1/dev-1/imu"]  # the other device's topic was refused
        device.loop_stop()
        device.disconnect()
        log = (tmp_path / "mosquitto.log").read_text()
        assert f"Opening ipv4 listen socket on port {port}" in log and "Error" not in log
    finally:
        gateway.loop_stop()
        broker.terminate()
        broker.wait(10)


def _client(username: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if username is not None:
        client.username_pw_set(username, password)
    return client


def _connects(client, port, broker, tmp_path) -> bool:
    try:
        client.connect("127.0.0.1", port)
        return True
    except OSError:
        assert broker.poll() is None, (tmp_path / "mosquitto.log").read_text()
        return False


def _refused(port: int, username: str | None, password: str | None) -> bool:
    answered = threading.Event()
    codes = []
    client = _client(username, password)

    def on_connect(c, u, flags, reason, props):
        codes.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return codes[0].is_failure


# What root would do to this machine (create a system user, write under /etc) is not run
# here: these tests run the installer as an ordinary user, so even a bug cannot touch /etc.
def _as_ordinary_user(*args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "gaitlink.tools.cli", "gateway", "install", *args]
    if os.geteuid() == 0:
        # nobody: no write access to /etc, like a Pi owner who forgot sudo.
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    env = {**os.environ, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def test_install__without_root_refuses_to_write_to_the_system_in_one_line():
    result = _as_ordinary_user("--id", "pi-07")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "needs root" in result.stderr and "sudo" in result.stderr
    assert "--dry-run" in result.stderr and "--root DIR" in result.stderr


def test_install__dry_run_names_the_files_and_the_useradd_and_changes_nothing():
    paths = [Path("/") / p for p in (UNIT_PATH, MOSQUITTO_PATH, CONFIG_PATH)]
    existed = {p: p.exists() for p in paths}
    user_existed = user_exists("gaitlink")
    result = _as_ordinary_user("--dry-run", "--id", "pi-07")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    print(result.stdout)
    for path in paths:
        if not existed[path]:
            assert any(ln.startswith(f"would write {path} (") for ln in lines), lines
            assert not path.exists(), f"--dry-run wrote {path}"
    if user_existed:
        assert "kept      system user gaitlink (exists)" in lines
    else:
        expected = "useradd --system --no-create-home --shell /usr/sbin/nologin gaitlink"
        assert f"would run {expected}" in lines
        assert not user_exists("gaitlink"), "--dry-run created the user"
    assert not any(ln.startswith("next:") for ln in lines)


def test_install__useradd_command_makes_a_system_user_without_home_or_shell():
    command = user_command("gaitlink")
    assert command[0] == "useradd" and command[-1] == "gaitlink"
    assert {"--system", "--no-create-home"} <= set(command)
    assert command[command.index("--shell") + 1] == "/usr/sbin/nologin"


def test_install__an_existing_user_is_kept_and_useradd_not_run(tmp_path, monkeypatch):
    # No useradd on PATH: had it been called, create_user would raise.
    (tmp_path / "id").symlink_to(shutil.which("id"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert create_user("root") == "kept      system user root (exists)"


def test_install__a_failing_or_missing_useradd_is_one_clear_error(tmp_path, monkeypatch):
    # A stand-in useradd (the real one needs root): what the installer says when it fails.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").symlink_to(shutil.which("id"))
    monkeypatch.setenv("PATH", str(bin_dir))
    user = "gaitlink-no-such-user"
    with pytest.raises(InstallError, match="useradd not found: create the system user"):
        create_user(user)
    fake = bin_dir / "useradd"
    message = "useradd: cannot lock /etc/passwd; try again later."
    fake.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(InstallError, match=r"useradd exited 1 \(useradd: cannot lock /etc/passwd"):
        create_user(user)
