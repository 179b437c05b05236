"""The local stack: two mosquitto brokers and InfluxDB, started from one state dir.

The same class serves `gaitlink stack up|down|status`, the pytest fixtures, and fault
tests that crash one component and start it again on the same port and data.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.tools.stack import accounts, influxdb, mosquitto, process, state, tls
from gaitlink.tools.stack.accounts import Account
from gaitlink.tools.stack.binaries import find_binaries, find_binary
from gaitlink.tools.stack.components import (
    CLOUD_BROKER,
    COMPONENTS,
    DEFAULT_PORTS,
    INFLUXDB,
    INFLUXDB_RPC,
    SITE_BROKER,
    Broker,
    Component,
)
from gaitlink.tools.stack.errors import ComponentFailed, PortInUse, StackError
from gaitlink.tools.stack.ports import HOST, free_port, free_ports, port_is_free
from gaitlink.tools.stack.process import ProcessIdentity

DEFAULT_DATABASE = "gaitlink"
_HEALTH_POLL_S = 0.05

State = Literal["running", "stopped", "unhealthy"]


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    state: State
    pid: int | None
    address: str
    log: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "address": self.address,
            "log": str(self.log),
        }


class Stack:
    """One local stack. Ports left as None come from stack.json, else the defaults."""

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        site_port: int | None = None,
        cloud_port: int | None = None,
        influx_port: int | None = None,
        influx_rpc_port: int | None = None,
        database: str | None = None,
        search_dirs: Sequence[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else state.default_state_dir()
        self.state_dir = self.state_dir.absolute()
        self.search_dirs = search_dirs
        self.timeout = timeout
        recorded = state.load(self.state_dir)
        wanted = {
            SITE_BROKER: site_port,
            CLOUD_BROKER: cloud_port,
            INFLUXDB: influx_port,
            INFLUXDB_RPC: influx_rpc_port,
        }
        self.ports: dict[str, int] = {
            name: port
            if port is not None
            # influxd's RPC port has no fixed default: 8088 would collide between stacks.
            else recorded.ports.get(name) or DEFAULT_PORTS.get(name) or free_port()
            for name, port in wanted.items()
        }
        self.database: str = database or recorded.database or DEFAULT_DATABASE

    @classmethod
    def on_free_ports(cls, state_dir: Path | str, **kwargs: Any) -> Stack:
        """A stack on ports nobody uses: for tests and anything run side by side."""
        site, cloud, influx, rpc = free_ports(4)
        return cls(
            state_dir,
            site_port=site,
            cloud_port=cloud,
            influx_port=influx,
            influx_rpc_port=rpc,
            **kwargs,
        )

    # --- addresses ------------------------------------------------------------------

    host = HOST

    @property
    def site_port(self) -> int:
        return self.ports[SITE_BROKER]

    @property
    def cloud_port(self) -> int:
        return self.ports[CLOUD_BROKER]

    @property
    def influx_port(self) -> int:
        return self.ports[INFLUXDB]

    @property
    def site_url(self) -> str:
        return self._component(SITE_BROKER).address(self.host, self.ports)

    @property
    def cloud_url(self) -> str:
        return self._component(CLOUD_BROKER).address(self.host, self.ports)

    @property
    def ca_file(self) -> Path:
        """The CA certificate that signed the cloud broker's (tools/stack/tls.py): what
        clients verify the cloud broker with. Made at the first `up`."""
        return tls.ca_path(self.state_dir)

    @property
    def influx_url(self) -> str:
        return self._component(INFLUXDB).address(self.host, self.ports)

    def influx_settings(self, role: str = "influx_admin"):
        """How a client reaches this stack's InfluxDB (a `cloud.influx.InfluxSettings`),
        logged in as `role`'s user (influx_admin, influx_writer or influx_reader)."""
        from gaitlink.cloud.influx.client import InfluxSettings

        username, password = self.influx_auth(role)
        return InfluxSettings(
            url=self.influx_url, database=self.database, username=username, password=password
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point gateway, ingest and tools at this stack.

        Usernames and the paths of password files, never a password: this is printed.
        """
        site_gw, cloud_gw = self.account("site_gateway"), self.account("cloud_gateway")
        ingest, writer = self.account("ingest"), self.account("influx_writer")
        operator = self.account("operator")
        return {
            "GAITLINK_SITE_MQTT_URL": self.site_url,
            "GAITLINK_CLOUD_MQTT_URL": self.cloud_url,
            # The gateway (cloud.ca_file), the ingest, `deadletter replay` and `device
            # config` verify the cloud broker's certificate with it.
            "GAITLINK_CLOUD_MQTT_CA": str(self.ca_file),
            "GAITLINK_INFLUX_URL": self.influx_url,
            "GAITLINK_INFLUX_DB": self.database,
            # gateway/config.py: GAITLINK_GATEWAY_<SECTION>__<FIELD>
            "GAITLINK_GATEWAY_SITE__USERNAME": site_gw.username,
            "GAITLINK_GATEWAY_SITE__PASSWORD_FILE": str(site_gw.password_file),
            "GAITLINK_GATEWAY_CLOUD__USERNAME": cloud_gw.username,
            "GAITLINK_GATEWAY_CLOUD__PASSWORD_FILE": str(cloud_gw.password_file),
            "GAITLINK_INGEST_MQTT_USER": ingest.username,
            "GAITLINK_INGEST_MQTT_PASSWORD_FILE": str(ingest.password_file),
            "GAITLINK_OPERATOR_MQTT_USER": operator.username,
            "GAITLINK_OPERATOR_MQTT_PASSWORD_FILE": str(operator.password_file),
            "GAITLINK_INFLUX_USER": writer.username,
            "GAITLINK_INFLUX_PASSWORD_FILE": str(writer.password_file),
        }

    # --- accounts (tools/stack/accounts.py) -----------------------------------------

    def account(self, role: str) -> Account:
        """A service account of this stack: "site_gateway", "cloud_gateway", "ingest",
        "operator" (replays dead letters), "influx_admin", "influx_writer" (the ingest) or
        "influx_reader" (researchers)."""
        return accounts.role_account(self.state_dir, role)

    def cloud_account(self, role: str, name: str) -> Account:
        """A cloud-broker account `<role>_<name>` of its own (role gateway, ingest or
        operator), e.g. one per test, so that test sessions never share a queue; made and
        loaded into the running cloud broker if new."""
        with state.locked(self.state_dir):
            existed = (
                accounts.secrets_dir(self.state_dir) / accounts.CLOUD / f"{role}_{name}.password"
            ).exists()
            account = accounts.cloud_account(self.state_dir, role, name)
            if not existed:
                self._reload_brokers()
            return account

    def add_device(self, device_id: str) -> Account:
        """Give the device an account on the site broker (and its topics on the cloud
        broker, through the gateway's ACL); running brokers reload. Idempotent: a device
        that has an account keeps it. `account.device_fields()` is what
        `start_device(extra=...)` needs."""
        with state.locked(self.state_dir):
            existed = device_id in accounts.device_ids(self.state_dir)
            device = accounts.add_device(self.state_dir, device_id)
            if not existed:
                self._reload_brokers()
            return device

    def remove_device(self, device_id: str) -> bool:
        """Revoke the device's account; a connected device is disconnected. False if none."""
        with state.locked(self.state_dir):
            removed = accounts.remove_device(self.state_dir, device_id)
            if removed:
                self._reload_brokers()
            return removed

    def site_endpoint(self, account: Account) -> Endpoint:
        """The site broker, logged in as `account` (a device's, or the site gateway's)."""
        return Endpoint(self.host, self.site_port).with_login(account.username, account.password)

    def cloud_endpoint(self, account: Account) -> Endpoint:
        """The cloud broker over TLS, verified with the stack's CA, logged in as `account`
        (the cloud gateway's, the ingest's or the operator's)."""
        endpoint = Endpoint(self.host, self.cloud_port).with_ca(self.ca_file)
        return endpoint.with_login(account.username, account.password)

    def create_database(self, name: str) -> None:
        """Another InfluxDB database, with the stack's writer and reader granted on it."""
        influxdb.set_up_users(self.influx_url, name, self.influx_auth(), self._influx_grants())

    def influx_auth(self, role: str = "influx_admin") -> influxdb.Auth:
        account = self.account(role)
        return account.username, account.password

    def log_path(self, name: str) -> Path:
        return self._component(name).log_path(self.state_dir / name)

    # --- whole stack ----------------------------------------------------------------

    def up(self) -> dict[str, str]:
        """Start what is not running, wait until all are healthy, create the database.

        Returns what happened to each component: "started" or "already running". If any
        component fails, the ones this call started are stopped again before raising.
        """
        with state.locked(self.state_dir):
            found = find_binaries([c.binary_name for c in COMPONENTS], self.search_dirs)
            binaries = {c.name: found[c.binary_name] for c in COMPONENTS}
            record = self._claim_record()
            outcome: dict[str, str] = {}
            try:
                for component in COMPONENTS:
                    identity = record.processes.get(component.name)
                    if identity is not None and process.is_running(identity):
                        self._wait_healthy(component, identity)
                        outcome[component.name] = "already running"
                    else:
                        self._start(component, binaries[component.name], record)
                        outcome[component.name] = "started"
                self._set_up_influx()
            except BaseException:
                for name, what in outcome.items():
                    if what == "started":
                        self._stop(name, record)
                raise
            return outcome

    def down(self, timeout: float = 10.0) -> dict[str, str]:
        """Stop the processes this stack started, and only those: "stopped" or "not running"."""
        if not state.record_path(self.state_dir).exists():
            return {c.name: "not running" for c in reversed(COMPONENTS)}
        with state.locked(self.state_dir):
            record = state.load(self.state_dir)
            return {
                c.name: "stopped" if self._stop(c.name, record, timeout) else "not running"
                for c in reversed(COMPONENTS)
            }

    def status(self) -> list[ComponentStatus]:
        record = state.load(self.state_dir)
        return [self._status(c, record.processes.get(c.name)) for c in COMPONENTS]

    # --- one component, for fault tests ---------------------------------------------

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> bool:
        """Signal one component the way fault tests do. False if it was not running.

        SIGKILL crashes it and waits until it is gone; its record and data stay, so start()
        brings it back on the same port and data. SIGTERM stops it cleanly (SIGKILL after
        the timeout). Other signals are only sent: SIGSTOP / SIGCONT freeze and thaw it.
        """
        identity = state.load(self.state_dir).processes.get(self._component(name).name)
        if identity is None:
            return False
        if sig == signal.SIGTERM:
            return process.terminate(identity, self.timeout)
        if not process.send_signal(identity, sig):
            return False
        if sig == signal.SIGKILL:
            process.wait_exit(identity, self.timeout)
        return True

    def start(self, name: str) -> str:
        """Start one component again on the same port and data dir, and wait until healthy."""
        component = self._component(name)
        with state.locked(self.state_dir):
            record = self._claim_record()
            identity = record.processes.get(name)
            if identity is not None and process.is_running(identity):
                return "already running"
            self._start(component, find_binary(component.binary_name, self.search_dirs), record)
            if name == INFLUXDB:
                self._set_up_influx()
            return "started"

    def stop(self, name: str, timeout: float = 10.0) -> bool:
        """Stop one component gracefully (SIGTERM, then SIGKILL after timeout)."""
        self._component(name)
        with state.locked(self.state_dir):
            return self._stop(name, state.load(self.state_dir), timeout)

    # --- internals ------------------------------------------------------------------

    def _set_up_influx(self) -> None:
        influxdb.set_up_users(
            self.influx_url, self.database, self.influx_auth(), self._influx_grants()
        )

    def _influx_grants(self) -> list[tuple[influxdb.Auth, str]]:
        return [
            (self.influx_auth("influx_writer"), "ALL"),
            (self.influx_auth("influx_reader"), "READ"),
        ]

    def _reload_brokers(self) -> None:
        """Rewrite both brokers' password and ACL files; running brokers reload them."""
        record = state.load(self.state_dir)
        for component in COMPONENTS:
            if not isinstance(component, Broker):
                continue
            home = self.state_dir / component.name
            home.mkdir(parents=True, exist_ok=True)
            accounts.write_broker_files(self.state_dir, component.scope, home)
            identity = record.processes.get(component.name)
            if identity is None or not process.is_running(identity):
                continue
            log = component.log_path(home)
            offset = log.stat().st_size if log.exists() else 0
            process.send_signal(identity, signal.SIGHUP)
            # mosquitto logs this line, then reloads before serving anyone: a CONNACK
            # after it was written comes from the reloaded broker.
            deadline = time.monotonic() + self.timeout
            while not mosquitto.reloaded_since(log, offset):
                if time.monotonic() >= deadline:
                    raise ComponentFailed(
                        f"{component.name} did not reload its accounts within "
                        f"{self.timeout:g} s. Last lines of {log}:\n{process.log_tail(log)}"
                    )
                time.sleep(_HEALTH_POLL_S)
            self._wait_healthy(component, identity)

    @staticmethod
    def _component(name: str) -> Component:
        for component in COMPONENTS:
            if component.name == name:
                return component
        known = ", ".join(c.name for c in COMPONENTS)
        raise StackError(f"no stack component named {name!r}; known: {known}")

    def _claim_record(self) -> state.StackRecord:
        """Load stack.json and make this instance's ports and database the recorded ones.

        Refused while a component runs on other ports than this instance wants.
        """
        record = state.load(self.state_dir)
        for component in COMPONENTS:
            identity = record.processes.get(component.name)
            if identity is None or not process.is_running(identity):
                continue
            for port_name in component.port_names():
                running, wanted = record.ports.get(port_name), self.ports[port_name]
                if running != wanted:
                    raise StackError(
                        f"{component.name} already runs from {self.state_dir} on port "
                        f"{running}, not {wanted}. Run `gaitlink stack down` first to change "
                        f"ports, or use another --state-dir."
                    )
        record.ports, record.database = dict(self.ports), self.database
        state.save(self.state_dir, record)
        return record

    def _start(self, component: Component, binary: Path, record: state.StackRecord) -> None:
        for port_name in component.port_names():
            port = self.ports[port_name]
            if not port_is_free(port, self.host):
                raise PortInUse(
                    f"cannot start {component.name}: {self.host}:{port} is already in use by "
                    f"another process (another stack, or a system service: "
                    f"`sudo ss -ltnp 'sport = :{port}'` shows which). Choose another port "
                    f"(see `gaitlink stack up --help`) or stop that process."
                )
        home = self.state_dir / component.name
        home.mkdir(parents=True, exist_ok=True)
        launch = component.prepare(binary, home, self.host, self.ports)
        identity = process.spawn(launch.argv, component.log_path(home), launch.env)
        record.processes[component.name] = identity
        state.save(self.state_dir, record)
        try:
            self._wait_healthy(component, identity)
        except BaseException:
            self._stop(component.name, record)
            raise

    def _wait_healthy(self, component: Component, identity: ProcessIdentity) -> None:
        deadline = time.monotonic() + self.timeout
        log = self.log_path(component.name)
        while not component.is_healthy(self.host, self.ports, self.state_dir / component.name):
            if not process.is_running(identity):
                raise ComponentFailed(
                    f"{component.name} (pid {identity.pid}) exited during start-up. "
                    f"Last lines of {log}:\n{process.log_tail(log)}"
                )
            if time.monotonic() >= deadline:
                raise ComponentFailed(
                    f"{component.name} (pid {identity.pid}) did not become healthy at "
                    f"{component.address(self.host, self.ports)} within {self.timeout:g} s. "
                    f"Last lines of {log}:\n{process.log_tail(log)}"
                )
            time.sleep(_HEALTH_POLL_S)

    def _stop(self, name: str, record: state.StackRecord, timeout: float = 10.0) -> bool:
        identity = record.processes.pop(name, None)
        stopped = identity is not None and process.terminate(identity, timeout)
        state.save(self.state_dir, record)
        return stopped

    def _status(self, component: Component, identity: ProcessIdentity | None) -> ComponentStatus:
        state_: State = "stopped"
        if identity is not None and process.is_running(identity):
            state_ = (
                "running"
                if component.is_healthy(self.host, self.ports, self.state_dir / component.name)
                else "unhealthy"
            )
        return ComponentStatus(
            name=component.name,
            state=state_,
            pid=identity.pid if state_ != "stopped" and identity is not None else None,
            address=component.address(self.host, self.ports),
            log=self.log_path(component.name),
        )


def influx_query(
    stack: Stack, q: str, epoch: str | None = "ns", *, database: str | None = None
) -> list[dict[str, Any]]:
    """InfluxQL as the stack's admin against its database (or `database`): one dict per
    point (see influxdb.query)."""
    return influxdb.query(
        stack.influx_url, database or stack.database, q, epoch=epoch, auth=stack.influx_auth()
    )


def influx_write(stack: Stack, lines: str, precision: str = "ns") -> None:
    """Line protocol into the stack's database, as its admin; returns once accepted."""
    influxdb.write(
        stack.influx_url, stack.database, lines, precision=precision, auth=stack.influx_auth()
    )
