"""Gateway settings: file < environment < flags; errors name field, value and what is
allowed; secrets only from private files or the environment."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitlink.gateway.config import ConfigError, load
from gaitlink.gateway.service import endpoint


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("GAITLINK_SITE_MQTT_URL", "GAITLINK_CLOUD_MQTT_URL", "GAITLINK_GATEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def _toml(tmp_path, text: str):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_config__file_then_env_then_flags(tmp_path, monkeypatch):
    path = _toml(
        tmp_path,
        'id = "pi-01"\n[site]\nurl = "10.0.0.2:1883"\nusername = "gw"\n'
        '[spool]\nmax_bytes = "1GiB"\nmax_age_h = 24\n',
    )
    settings = load(path)
    assert (settings.id, settings.site.url, int(settings.spool.max_bytes)) == (
        "pi-01", "10.0.0.2:1883", 1024**3,
    )  # fmt: skip
    monkeypatch.setenv("GAITLINK_GATEWAY_SPOOL__MAX_AGE_H", "48")
    monkeypatch.setenv("GAITLINK_GATEWAY_SITE__URL", "10.0.0.3:1883")
    settings = load(path)
    assert settings.spool.max_age_h == 48 and settings.site.url == "10.0.0.3:1883"
    # A flag for site.url keeps the file's site.username.
    settings = load(path, {"site": {"url": "10.0.0.4:1883"}, "id": None})
    assert settings.site.url == "10.0.0.4:1883" and settings.site.username == "gw"
    assert settings.id == "pi-01"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[spool]\nmax_age_h = -1\n", ["spool.max_age_h = -1", "greater than 0"]),
        ('[spool]\nmax_bytes = "lots"\n', ["spool.max_bytes = 'lots'", "allowed: a size such as"]),
        ("[spool]\nwindow = 0\n", ["spool.window = 0", "greater than or equal to 1"]),
        ("[spool]\nbatch_frames = 1001\n", ["spool.batch_frames = 1001", "less than or equal"]),
        ('[spool]\nbatch_bytes = "1KiB"\n', ["spool.batch_bytes = '1KiB'", "greater than"]),
        ('id = "no spaces allowed"\n', ["id = 'no spaces allowed'", "pattern"]),
        ("[spool]\nmax_size = 3\n", ["spool.max_size: unknown setting"]),
    ],
)
def test_config__invalid_names_field_value_and_what_is_allowed(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load(_toml(tmp_path, text))
    for part in expected:
        assert part in str(err.value)


def test_config__malformed_toml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"gateway\.toml"):
        load(_toml(tmp_path, "[spool\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_config__password_from_a_private_file_or_the_environment(tmp_path, monkeypatch):
    secret = tmp_path / "cloud-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    path = _toml(
        tmp_path, f'[cloud]\nurl = "c:1883"\nusername = "gw"\npassword_file = "{secret}"\n'
    )
    with pytest.raises(ConfigError, match="readable by others"):
        endpoint(load(path).cloud, "cloud")
    secret.chmod(0o600)
    assert endpoint(load(path).cloud, "cloud").password == "s3cret"
    monkeypatch.setenv("GAITLINK_GATEWAY_SITE__PASSWORD", "from-env")
    site = endpoint(load(path).site, "site")
    assert site.password == "from-env"
    with pytest.raises(ConfigError, match="password_file"):
        endpoint(load(path, {"cloud": {"url": "mqtt://gw:pw@c:1883"}}).cloud, "cloud")


def test_gateway_cli__bad_setting_is_one_line_per_field_and_exit_2(tmp_path):
    path = _toml(tmp_path, "[spool]\nmax_age_h = 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "gateway", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "spool.max_age_h = 0" in result.stderr


@settings(max_examples=40, deadline=None)
@given(
    field=st.sampled_from(
        ["max_age_h", "window", "max_bytes", "reserve_bytes", "batch_frames", "batch_bytes"]
    ),
    value=st.one_of(
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.text(alphabet="abcGiMB0123456789. -", max_size=8),
    ),
)
def test_config__any_spool_value_is_accepted_or_named_in_the_error(tmp_path_factory, field, value):
    path = tmp_path_factory.mktemp("cfg") / "gateway.toml"
    path.write_text(f"[spool]\n{field} = {json.dumps(value)}\n")
    try:
        settings = load(path)
    except ConfigError as exc:
        assert f"spool.{field} = " in str(exc), str(exc)
        return
    accepted = getattr(settings.spool, field)
    assert float(accepted) > 0 or (field == "reserve_bytes" and float(accepted) == 0)
