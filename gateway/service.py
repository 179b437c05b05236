"""The running gateway: settings turned into the spool, the relay and the HTTP endpoint."""

from __future__ import annotations

from pathlib import Path

from gaitlink.gateway.config import BrokerSettings, ConfigError, GatewaySettings
from gaitlink.gateway.health import HealthServer
from gaitlink.gateway.relay import Relay
from gaitlink.gateway.spool import Limits, Spool
from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.secrets import SecretError, read_secret

SPOOL_FILE = "spool.db"


def endpoint(broker: BrokerSettings, what: str) -> Endpoint:
    try:
        # Refuses credentials in the URL (URLs end up in logs) without echoing them.
        parsed = Endpoint.parse(broker.url, what=f"{what}.url (--{what})")
    except ValueError as exc:
        raise ConfigError(
            f"{exc}: use {what}.username and {what}.password_file (mode 0600) or "
            f"GAITLINK_GATEWAY_{what.upper()}__PASSWORD"
        ) from None
    password = broker.password.get_secret_value() if broker.password else None
    if broker.password_file is not None:
        password = _read_private(broker.password_file, f"{what}.password_file")
    return parsed.with_login(broker.username, password).with_ca(broker.ca_file)


def _read_private(path: Path, what: str) -> str:
    try:
        return read_secret(path, what)
    except SecretError as exc:
        raise ConfigError(str(exc)) from None


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"http.listen = {text!r}: expected host:port, e.g. 127.0.0.1:9108")
    return host or "127.0.0.1", int(port)


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        site = endpoint(settings.site, "site")
        cloud = endpoint(settings.cloud, "cloud")
        http = _host_port(settings.http.listen) if settings.http.listen else None
        spool_settings = settings.spool
        self.spool = Spool(
            spool_settings.dir / SPOOL_FILE,
            Limits(
                max_bytes=int(spool_settings.max_bytes),
                max_age_s=spool_settings.max_age_h * 3600,
                reserve_bytes=int(spool_settings.reserve_bytes),
            ),
        )
        try:
            self.relay = Relay(
                site, cloud, self.spool,
                gateway_id=settings.id,
                time_beacon_s=settings.time_beacon_s,
                status_every_s=settings.status_every_s,
                window=spool_settings.window,
                batch_frames=spool_settings.batch_frames,
                batch_bytes=int(spool_settings.batch_bytes),
                presence_timeout_s=settings.presence_timeout_s,
            )  # fmt: skip
        except Exception:
            self.spool.close()
            raise
        self._http_at = http
        self._http: HealthServer | None = None
        self.http_address: str | None = None

    def start(self) -> None:
        if self._http_at is not None:
            self._http = HealthServer(
                self.relay, *self._http_at,
                cloud_down_s=self.settings.http.cloud_down_s,
                spool_alarm=self.settings.http.spool_alarm_fraction,
            )  # fmt: skip
            self.http_address = f"{self._http_at[0]}:{self._http.port}"
            self._http.start()
        self.relay.start()

    def stop(self) -> None:
        self.relay.stop()
        if self._http is not None:
            self._http.stop()

    def close(self) -> None:
        """Release what start() did not get to use (after a failed start)."""
        if self._http is not None:
            self._http.stop()
        self.spool.close()
