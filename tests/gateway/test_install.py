"""`gaitlink gateway install` rendered into a temp root: the unit checked by systemd (or
parsed where systemd-analyze is missing), the broker config run by a real mosquitto."""

import configparser
import shutil
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gaitlink.gateway.install import (
    CONFIG_PATH,
    MOSQUITTO_PATH,
    UNIT_PATH,
    InstallPlan,
    render_mosquitto,
)
from gaitlink.tools.stack import find_binary, free_port
from tests.gateway.helpers import wait_for


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


def test_install__site_broker_config_runs_in_a_real_mosquitto(tmp_path):
    port = free_port()
    (tmp_path / "conf.d").mkdir()
    conf_d = tmp_path / "conf.d" / MOSQUITTO_PATH.name
    conf_d.write_text(
        render_mosquitto(InstallPlan(tmp_path, site_port=port, site_listen="127.0.0.1"))
    )
    # The main file as Debian / Raspberry Pi OS ship it (persistence set there too), then
    # conf.d.
    main = tmp_path / "mosquitto.conf"
    main.write_text(
        f"persistence true\npersistence_location {tmp_path}/\n"
        f"log_dest file {tmp_path}/mosquitto.log\n"
        f"include_dir {tmp_path / 'conf.d'}\nuser root\n"
    )
    broker = subprocess.Popen(
        [str(find_binary("mosquitto")), "-c", str(main)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    got = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    try:

        def connected() -> bool:
            try:
                client.connect("127.0.0.1", port)
                return True
            except OSError:
                assert broker.poll() is None, (tmp_path / "mosquitto.log").read_text()
                return False

        wait_for(connected, 10, "mosquitto with the rendered config")
        client.on_connect = lambda c, *_: c.subscribe("gaitlink/v1/+/imu", qos=1)
        client.on_subscribe = lambda c, *_: c.publish("gaitlink/v1/d/imu", b"x", qos=1)
        client.on_message = lambda *_: got.set()
        client.loop_start()
        assert got.wait(10)
        log = (tmp_path / "mosquitto.log").read_text()
        assert f"Opening ipv4 listen socket on port {port}" in log and "Error" not in log
    finally:
        client.loop_stop()
        broker.terminate()
        broker.wait(10)
