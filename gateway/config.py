"""The gateway's settings: a TOML file, environment overrides, then command-line flags.

Precedence, highest first: flags of `gaitlink gateway run`, environment variables
(`GAITLINK_GATEWAY_<FIELD>`, nested with `__`: `GAITLINK_GATEWAY_SPOOL__MAX_BYTES`), the
TOML file (`/etc/gaitlink/gateway.toml` by default), the defaults here. pydantic-settings
validates the merged result once at start-up; an error names the field, the value given
and what is allowed (`ConfigError`).

Secrets never come from flags (argv is world-readable in /proc): a broker password comes
from `password_file` (a private file) or `GAITLINK_GATEWAY_<SITE|CLOUD>__PASSWORD`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ByteSize, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("/etc/gaitlink/gateway.toml")
CONFIG_ENV = "GAITLINK_GATEWAY_CONFIG"
ENV_PREFIX = "GAITLINK_GATEWAY_"
_MQTT = "127.0.0.1:1883"
# What a value may be, for errors whose own message does not say.
_ALLOWED = {
    "byte_size": "a size such as 512MiB, 2GiB or a number of bytes",
    "float_parsing": "a number",
    "int_parsing": "a whole number",
    "bool_parsing": "true or false",
}


class ConfigError(ValueError):
    """Settings that cannot run; the message names every bad field."""


def default_spool_dir() -> Path:
    # systemd's StateDirectory= sets $STATE_DIRECTORY (/var/lib/gaitlink-gateway); by hand,
    # the XDG state dir of the user who runs it.
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "gaitlink" / "gateway"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrokerSettings(_Section):
    url: str = "127.0.0.1:1883"
    username: str | None = None
    # A private file holding the password (mode 0600), or the environment variable
    # GAITLINK_GATEWAY_<SITE|CLOUD>__PASSWORD. Never a flag.
    password_file: Path | None = None
    password: SecretStr | None = None
    # The CA certificate that signed the broker's; turns TLS on (also mqtts:// in url,
    # which without a CA file verifies with the system's CAs).
    ca_file: Path | None = None


# Defaults follow what `gaitlink stack up` exports, else the standard MQTT port.
class SiteBroker(BrokerSettings):
    url: str = Field(default_factory=lambda: os.environ.get("GAITLINK_SITE_MQTT_URL", _MQTT))


class CloudBroker(BrokerSettings):
    url: str = Field(default_factory=lambda: os.environ.get("GAITLINK_CLOUD_MQTT_URL", _MQTT))
    ca_file: Path | None = Field(
        default_factory=lambda: os.environ.get("GAITLINK_CLOUD_MQTT_CA") or None
    )


class SpoolSettings(_Section):
    dir: Path = Field(default_factory=default_spool_dir)
    # Stored bytes (payload + topic + row overhead): 2 GiB hold ~26 h of 10 devices at
    # 100 Hz (docs/gateway.md, "Capacity").
    max_bytes: ByteSize = Field(default=ByteSize(2 * 1024**3), ge=1024 * 1024)
    max_age_h: float = Field(default=72.0, gt=0)
    # Left free on the spool's file system whatever max_bytes says.
    reserve_bytes: ByteSize = Field(default=ByteSize(512 * 1024**2), ge=0)
    # Messages published to the cloud and not yet acked (paho's in-flight window).
    window: int = Field(default=2000, ge=1, le=65000)
    # Frames of one device packed into one cloud message (docs/protocol.md §2.5), at most
    # this many and this many bytes; 1 sends every frame as its own message. Only frames
    # already spooled are packed: a batch never waits to fill.
    batch_frames: int = Field(default=50, ge=1, le=1000)
    batch_bytes: ByteSize = Field(default=ByteSize(64 * 1024), ge=4096, le=16 * 1024**2)


class HttpSettings(_Section):
    # host:port for /health and /metrics; "" turns the endpoint off.
    listen: str = "127.0.0.1:9108"
    # /health answers 503 when the cloud link is down longer than this ...
    cloud_down_s: float = Field(default=60.0, gt=0)
    # ... or the spool holds more than this fraction of its byte bound.
    spool_alarm_fraction: float = Field(default=0.8, gt=0, le=1)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    id: str = Field(default="gateway", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    site: SiteBroker = Field(default_factory=SiteBroker)
    cloud: CloudBroker = Field(default_factory=CloudBroker)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    time_beacon_s: float = Field(default=1.0, gt=0)
    status_every_s: float = Field(default=10.0, gt=0)
    presence_timeout_s: float = Field(default=30.0, gt=0)
    stats_every_s: float = Field(default=10.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> GatewaySettings:
    """Settings from `config_file` (default: $GAITLINK_GATEWAY_CONFIG, else
    /etc/gaitlink/gateway.toml if it exists), the environment and `overrides` (the flags,
    nested dicts, None values left out)."""
    explicit = config_file is not None or CONFIG_ENV in os.environ
    path = Path(config_file or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if explicit and not path.is_file():
        raise ConfigError(f"config file {path} does not exist (give --config an existing file)")
    toml_file = path if path.is_file() else None

    class _FromFile(GatewaySettings):
        model_config = SettingsConfigDict(toml_file=toml_file)

    # Flags go in as init values; pydantic-settings merges every source deeply, so a flag
    # for site.url keeps the file's site.username.
    try:
        settings = _FromFile(**_prune(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(describe(exc, toml_file)) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"config file {path}: {exc}") from None
    return settings


def _prune(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _prune(value)
            if not value:
                continue
        elif value is None:
            continue
        out[key] = value
    return out


def describe(exc: ValidationError, toml_file: Path | None) -> str:
    """One line per bad field: where, the value, what is allowed."""
    where = f" (file {toml_file}, env {ENV_PREFIX}*, flags)" if toml_file else ""
    lines = [f"invalid gateway settings{where}:"]
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"]) or "(top level)"
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            lines.append(f"  {field}: unknown setting (value {value!r}); see docs/gateway.md")
            continue
        if error["type"] == "missing":
            lines.append(f"  {field}: required, not given")
            continue
        shown = "(secret)" if "password" in field else repr(value)
        allowed = _ALLOWED.get(error["type"])
        hint = f" (allowed: {allowed})" if allowed else ""
        lines.append(f"  {field} = {shown}: {error['msg']}{hint}")
    return "\n".join(lines)
