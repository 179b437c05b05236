"""The device registry, remote-config validation and signing, and `gaitlink device
provision|config set|config push|show` against the stack's real cloud broker."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.protocol.config import RemoteConfig, config_text, signature
from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceError, DeviceStore
from gaitlink.mqtt.oneshot import publish_retained, read_retained


def _store(tmp_path) -> DeviceStore:
    return DeviceStore(open_registry(tmp_path / "registry.sqlite3"))


@given(st.integers(min_value=-10, max_value=2000))
def test_remote_config__rate_hz_must_divide_1000(rate) -> None:
    if 4 <= rate <= 1000 and 1000 % rate == 0:
        assert RemoteConfig(rate_hz=rate).values() == {"rate_hz": rate}
    else:
        with pytest.raises(ValueError, match="rate_hz"):
            RemoteConfig(rate_hz=rate)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"rate_hz": "100"}, "rate_hz"),  # strict: no strings for numbers
        ({"samples_per_frame": 201}, "samples_per_frame"),
        ({"acc_range_g": 3}, "acc_range_g"),
        ({"gyro_range_dps": 100}, "gyro_range_dps"),
        ({"range_checks": {"ax": [5, -5]}}, "range_checks"),
        ({"range_checks": {"speed": [0, 1]}}, "range_checks"),
        ({"status_period_s": 0}, "status_period_s"),
        ({"axis_map": "x,x,z"}, "axis_map"),
        ({"axis_map": "-x,y,z"}, "axis_map"),  # a mirror image
        ({"acc_offset": [25.0, 0, 0]}, "acc_offset"),
        ({"gyro_offset": [0, 0]}, "gyro_offset"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_remote_config__invalid_names_the_field(values, field) -> None:
    with pytest.raises(ValueError, match=field):
        RemoteConfig.model_validate(values)


def test_signature__is_rfc2104_hmac_over_version_newline_text() -> None:
    key, text = os.urandom(32), config_text({"rate_hz": 50, "acc_range_g": 4})
    assert text == '{"acc_range_g":4,"rate_hz":50}'
    expected = hmac.new(key, b"7\n" + text.encode(), hashlib.sha256).hexdigest()
    assert signature(key, 7, text) == expected


def test_device_store__provision_then_versions_accumulate_and_are_signed(tmp_path) -> None:
    store = _store(tmp_path)
    device = store.provision("gl-0001", "foot", "left")
    assert len(device.key) == 32 and device.placement == "foot" and device.side == "left"
    assert store.desired("gl-0001") is None
    first = store.set_config("gl-0001", {"rate_hz": 50})
    second = store.set_config("gl-0001", {"acc_range_g": 16, "axis_map": "-y,x,z"})
    assert (first.version, second.version) == (1, 2)
    assert second.values() == {"rate_hz": 50, "acc_range_g": 16, "axis_map": "-y,x,z"}
    assert second.sig == signature(device.key, 2, second.text)
    message = json.loads(second.message())
    assert message["config"] == second.text and message["version"] == 2
    assert store.get("gl-0001").axis_map == "-y,x,z"  # what the ingest rotates with
    # a refused change stores nothing
    with pytest.raises(DeviceError, match="rate_hz: must divide 1000"):
        store.set_config("gl-0001", {"rate_hz": 30})
    assert store.desired("gl-0001").version == 2
    mode = stat.S_IMODE((tmp_path / "registry.sqlite3").stat().st_mode)
    assert mode == 0o600  # it holds device keys


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("GL-1", "foot", ""), "device id 'GL-1'"),
        (("gl-1", "hand", ""), "placement 'hand'"),
        (("gl-1", "lower_back", "left"), "side 'left'"),
    ],
)
def test_device_store__bad_provisioning_is_refused(tmp_path, args, reason) -> None:
    with pytest.raises(DeviceError, match=reason):
        _store(tmp_path).provision(*args)


def test_device_store__twice_provisioned_or_unknown_is_refused(tmp_path) -> None:
    store = _store(tmp_path)
    key = store.provision("gl-1", "shank", "right").key
    with pytest.raises(DeviceError, match="already provisioned"):
        store.provision("gl-1", "foot")
    assert store.get("gl-1").key == key
    with pytest.raises(DeviceError, match="not provisioned: run `gaitlink device provision"):
        store.set_config("gl-2", {"rate_hz": 50})


def _cli(tmp_path, *args, env=None):
    env = {**os.environ, "GAITLINK_STATE_DIR": str(tmp_path / "state"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "device", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_device_cli__provision_writes_an_owner_only_device_file(tmp_path) -> None:
    done = _cli(tmp_path, "provision", "gl-0007", "--placement", "foot", "--side", "left",
                "--broker", "10.0.0.2:1883")  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "state" / "provisioned" / "gl-0007.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = json.loads(path.read_text())
    key = DeviceStore(open_registry(tmp_path / "state" / "registry.sqlite3")).get("gl-0007").key
    assert values["device_key"] == key.hex()
    assert (values["broker_host"], values["broker_port"]) == ("10.0.0.2", 1883)
    assert values["wifi_ssid"] == values["wifi_password"] == "FILL-IN"
    # its own account on the site broker (gaitlink broker add-device), made by provisioning
    account = tmp_path / "state" / "secrets" / "devices" / "gl-0007.password"
    assert values["mqtt_user"] == "gl-0007"
    assert values["mqtt_password"] == account.read_text().strip()
    assert key.hex() not in done.stdout + done.stderr  # never printed
    assert values["mqtt_password"] not in done.stdout + done.stderr
    again = _cli(tmp_path, "provision", "gl-0007", "--placement", "foot")
    assert again.returncode == 2 and "already provisioned" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("config", "set", "gl-0009", "rate_hz=50"), "not provisioned"),
        (("config", "set", "gl-0008", "rate_hz"), "expected KEY=VALUE"),
        (("config", "set", "gl-0008", "rate_hz=33"), "rate_hz: must divide 1000"),
        (("config", "set", "gl-0008", "bogus=1"), "bogus: Extra inputs are not permitted"),
        (("config", "set", "gl-0008", "rate_hz=50", "--cloud", "127.0.0.1:1"),
         "version 1 is stored but not published"),
        (("config", "push", "gl-0008"), "no desired config yet"),
        (("show", "gl-0009"), "not provisioned"),
    ],
)  # fmt: skip
def test_device_cli__refusals_are_one_line(tmp_path, args, message) -> None:
    assert _cli(tmp_path, "provision", "gl-0008", "--placement", "lower_back").returncode == 0
    done = _cli(tmp_path, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_device_cli__config_set_is_retained_and_show_compares(stack, tmp_path) -> None:
    env = stack.env()
    assert _cli(tmp_path, "provision", "gl-0010", "--placement", "foot", env=env).returncode == 0
    done = _cli(tmp_path, "config", "set", "gl-0010", "rate_hz=50", "axis_map=-y,x,z", env=env)
    assert done.returncode == 0, done.stderr
    cloud = stack.cloud_endpoint(stack.account("operator"))  # what the CLI logs in as
    desired_topic = "gaitlink/v1/gl-0010/config/desired"
    retained = read_retained(cloud, [desired_topic])
    message = json.loads(retained[desired_topic])
    assert message["version"] == 1 and json.loads(message["config"]) == {
        "axis_map": "-y,x,z",
        "rate_hz": 50,
    }
    shown = json.loads(_cli(tmp_path, "show", "gl-0010", "--json", env=env).stdout)
    assert shown["desired_version"] == 1 and shown["reported_version"] is None
    assert shown["in_sync"] is False and shown["last_seen"] is None

    # the device's report, as the firmware words it (retained at the cloud broker)
    report = {"device_id": "gl-0010", "version": 1, "status": "applied", "error": None,
              "desired_version": 1, "timestamp": "2026-12-01T00:00:01.000Z",
              "config": {"rate_hz": 50}}  # fmt: skip
    publish_retained(cloud, "gaitlink/v1/gl-0010/config/reported", json.dumps(report).encode())
    status = {"device_id": "gl-0010", "state": "online", "boot_id": 1,
              "timestamp": "2026-12-01T00:00:02Z"}  # fmt: skip
    publish_retained(cloud, "gaitlink/v1/gl-0010/status", json.dumps(status).encode())
    text = _cli(tmp_path, "show", "gl-0010", env=env)
    assert text.returncode == 0, text.stderr
    assert "gl-0010 (foot): in sync" in text.stdout
    assert "reported: version 1  applied" in text.stdout
    assert "last seen: 2026-12-01T00:00:02.000+00:00" in text.stdout


def test_device_cli__import_provisions_what_the_ingest_devices_file_lists(tmp_path) -> None:
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps({"gl-i1": {"placement": "shank", "axis_map": "-y,x,z"},
                                   "gl-i2": {"placement": "lower_back"}}))  # fmt: skip
    assert _cli(tmp_path, "provision", "gl-i2", "--placement", "foot").returncode == 0
    done = _cli(tmp_path, "import", str(devices))
    assert done.returncode == 0, done.stderr
    assert "1 device(s) provisioned: gl-i1" in done.stdout
    store = DeviceStore(open_registry(tmp_path / "state" / "registry.sqlite3"))
    assert store.get("gl-i1").axis_map == "-y,x,z" and store.get("gl-i1").placement == "shank"
    assert store.get("gl-i2").placement == "foot"  # already known: kept as it was
    path = tmp_path / "state" / "provisioned" / "gl-i1.json"
    assert json.loads(path.read_text())["device_key"] == store.get("gl-i1").key.hex()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    devices.write_text('{"gl-i3": {"placement": "hand"}}')
    bad = _cli(tmp_path, "import", str(devices))
    assert bad.returncode == 2 and "placement" in bad.stderr and "Traceback" not in bad.stderr
