"""The three servers of the local stack, each as: files to write, command, health, address.

Every component lives in `<state dir>/<name>/`: its generated config, its data and its log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gaitlink.tools.stack import accounts, influxdb, mosquitto, tls

SITE_BROKER = "site_broker"
CLOUD_BROKER = "cloud_broker"
INFLUXDB = "influxdb"
INFLUXDB_RPC = "influxdb_rpc"  # a port only, not a component

# Not the standard 1883/8086: installing the Debian packages starts system services there,
# and the local stack must run beside them.
DEFAULT_PORTS: dict[str, int] = {SITE_BROKER: 18830, CLOUD_BROKER: 18840, INFLUXDB: 18086}


@dataclass(frozen=True, slots=True)
class Launch:
    argv: list[str]
    env: dict[str, str] | None  # None: inherit ours


@dataclass(frozen=True, slots=True)
class Broker:
    """A mosquitto broker: the site broker (the Pi) or the cloud broker (the server)."""

    name: str
    scope: str  # its accounts: accounts.SITE or accounts.CLOUD
    # TLS only, with the stack's CA and server certificate (tools/stack/tls.py).
    tls: bool = False
    # Sessions named after the username (use_username_as_clientid): no session takeover.
    bind_sessions: bool = False
    binary_name: str = "mosquitto"

    def port_names(self) -> tuple[str, ...]:
        return (self.name,)

    def log_path(self, home: Path) -> Path:
        return home / "mosquitto.log"

    def prepare(self, binary: Path, home: Path, host: str, ports: dict[str, int]) -> Launch:
        config = home / "mosquitto.conf"
        # The state dir holds the secrets the password file and ACL are rendered from.
        passwd, acl = accounts.write_broker_files(home.parent, self.scope, home)
        server = tls.ensure_server_files(home.parent, host) if self.tls else None
        text = mosquitto.render_config(
            ports[self.name], home, self.log_path(home), host, password_file=passwd,
            acl_file=acl, tls=server, bind_sessions=self.bind_sessions,
        )  # fmt: skip
        config.write_text(text)
        return Launch(mosquitto.argv(binary, config), env=None)

    def address(self, host: str, ports: dict[str, int]) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{ports[self.name]}"

    def is_healthy(self, host: str, ports: dict[str, int], home: Path) -> bool:
        ca = tls.ca_path(home.parent) if self.tls else None
        return mosquitto.is_healthy(host, ports[self.name], ca_file=ca)


@dataclass(frozen=True, slots=True)
class InfluxDB:
    """InfluxDB 1.x, reached over its v1 HTTP API."""

    name: str = INFLUXDB
    binary_name: str = "influxd"

    def port_names(self) -> tuple[str, ...]:
        return (INFLUXDB, INFLUXDB_RPC)

    def log_path(self, home: Path) -> Path:
        # influxd 1.x logs only to stderr; the spawn redirects it here.
        return home / "influxd.log"

    def prepare(self, binary: Path, home: Path, host: str, ports: dict[str, int]) -> Launch:
        config = home / "influxd.conf"
        config.write_text(influxdb.render_config(home, host, ports[INFLUXDB], ports[INFLUXDB_RPC]))
        return Launch(influxdb.argv(binary, config), env=influxdb.server_env())

    def address(self, host: str, ports: dict[str, int]) -> str:
        return f"http://{host}:{ports[INFLUXDB]}"

    def is_healthy(self, host: str, ports: dict[str, int], home: Path) -> bool:
        return influxdb.is_healthy(self.address(host, ports))


Component = Broker | InfluxDB

# Start order; `down` stops in reverse, so the store outlives the brokers feeding it.
COMPONENTS: tuple[Component, ...] = (
    InfluxDB(),
    # The cloud broker faces the internet in a deployment: TLS only, and sessions bound to
    # accounts so that no account can take over (and discard) another's queue.
    Broker(CLOUD_BROKER, accounts.CLOUD, tls=True, bind_sessions=True),
    Broker(SITE_BROKER, accounts.SITE),
)
