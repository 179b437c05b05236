"""Gateway and ingest as real processes, the way an operator starts them.

The demo and the end-to-end and fault tests use this, so what they exercise is the
`gaitlink gateway run` / `gaitlink ingest run` a user types, not an in-process shortcut.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gaitlink.tools.stack import Account, Stack


class ServiceError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    argv: list[str]
    log_path: Path
    ready: Callable[[Service], bool] = field(repr=False)
    start_timeout_s: float = 60.0
    # Added to the inherited environment (accounts: usernames and password-file paths).
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    _log_offset: int = 0

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # The log is appended across restarts: readiness is read from this run's part only.
        self._log_offset = log.tell()
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise ServiceError(f"{self.name} exited with {code}:\n{self.tail()}")
            if self.ready(self):
                return self
            time.sleep(0.1)
        self.stop()
        raise ServiceError(
            f"{self.name} not ready after {self.start_timeout_s:.0f} s:\n{self.tail()}"
        )

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the crash a fault test needs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_since_start(self) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _gaitlink(*args: str) -> list[str]:
    return [sys.executable, "-m", "gaitlink.tools.cli", *args]


def session_suffix(state_dir: Path) -> str:
    """Names MQTT sessions after the state dir.

    A restart with the same state dir resumes its broker sessions (and gets what they
    queued), while two state dirs, say two tests on one broker, never share a session and
    so never receive each other's messages.
    """
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:10]


def _login(flag: str, account: Account) -> list[str]:
    # The password travels as the path of its private file: argv is world-readable.
    return [
        f"--{flag}-user",
        account.username,
        f"--{flag}-password-file",
        str(account.password_file),
    ]


def service_account(stack: Stack, role: str, state_dir: Path) -> Account:
    """The cloud-broker account of `state_dir`'s gateway or ingest (role "gateway" or
    "ingest"): `<role>_<h>`, made on first use.

    The cloud broker names each session after its account (use_username_as_clientid,
    docs/security.md), so the account, not the client id, is the session: one per state
    dir keeps two tests' sessions (and queues) apart as the client ids did, and a restart
    with the same state dir resumes its session.
    """
    return stack.cloud_account(role, session_suffix(state_dir))


def gateway_login(broker: str, account: Account) -> dict[str, str]:
    # The gateway takes no secret as a flag (gateway/config.py): its environment names the
    # username and the private file holding the password.
    prefix = f"GAITLINK_GATEWAY_{broker.upper()}__"
    return {
        f"{prefix}USERNAME": account.username,
        f"{prefix}PASSWORD_FILE": str(account.password_file),
    }


def gateway(
    stack: Stack | None,
    state_dir: Path,
    *,
    site_url: str | None = None,
    cloud_url: str | None = None,
    extra: tuple[str, ...] = (),
) -> Service:
    """The gateway between the stack's brokers, logged in with the stack's accounts.

    `site_url` / `cloud_url` replace one of them by a broker of the test's own; with
    `stack=None` both must be given, and the gateway logs in to neither.
    """
    log_path = state_dir / "gateway.log"

    def ready(service: Service) -> bool:
        return "gateway ready" in service.log_since_start()

    env: dict[str, str] = {}
    if stack is not None:
        cloud_account = stack.account("cloud_gateway")
        if cloud_url is None:  # the stack's cloud broker: TLS, verified with its CA
            env["GAITLINK_GATEWAY_CLOUD__CA_FILE"] = str(stack.ca_file)
            cloud_account = service_account(stack, "gateway", state_dir)
        site_url, cloud_url = site_url or stack.site_url, cloud_url or stack.cloud_url
        env |= gateway_login("site", stack.account("site_gateway"))
        env |= gateway_login("cloud", cloud_account)
    if site_url is None or cloud_url is None:
        raise ValueError("gateway without a stack: give site_url and cloud_url")
    gateway_id = f"gw-{session_suffix(state_dir)}"
    # The spool follows the state dir like the sessions do; /health and /metrics on a free
    # port (the gateway logs which), so gateways side by side never collide.
    argv = _gaitlink(
        "gateway", "run", "--site", site_url, "--cloud", cloud_url, "--id", gateway_id,
        "--spool-dir", str(state_dir / "gateway-spool"), "--http", "127.0.0.1:0", *extra,
    )  # fmt: skip
    return Service("gateway", argv, log_path, ready, env=env)


def ingest(
    stack: Stack,
    state_dir: Path,
    *,
    http_port: int,
    database: str | None = None,
    accept_unprovisioned: str | None = "foot",
    extra: tuple[str, ...] = (),
) -> Service:
    """The ingest from the stack's cloud broker into its InfluxDB (or `database` there).

    Its devices are those of `state_dir`'s registry. Test rigs stream from ids nobody
    provisioned: `accept_unprovisioned` takes those as worn there; None refuses them, as a
    production ingest does (the demo provisions its devices)."""
    health = f"http://127.0.0.1:{http_port}/health"

    def ready(_service: Service) -> bool:
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    argv = _gaitlink(
        "ingest", "run", "--mqtt", stack.cloud_url, "--mqtt-ca", str(stack.ca_file),
        *_login("mqtt", service_account(stack, "ingest", state_dir)),
        "--influx-url", stack.influx_url, "--database", database or stack.database,
        *_login("influx", stack.account("influx_writer")),
        "--http", f"127.0.0.1:{http_port}", "--dead-letters", str(state_dir / "dead-letters"),
        *(("--accept-unprovisioned", accept_unprovisioned) if accept_unprovisioned else ()),
        "--client-id", f"gaitlink-ingest-{session_suffix(state_dir)}",
        "--api-keys", str(api_keys_file(state_dir)),
        "--registry", str(state_dir / "registry.sqlite3"), *extra,
    )  # fmt: skip
    # The first start on a machine compiles the numba gait kernels (tens of seconds on a
    # small machine); later starts load them from numba's cache in well under a second.
    return Service("ingest", argv, state_dir / "ingest.log", ready, start_timeout_s=300.0)


def api_keys_file(state_dir: Path) -> Path:
    """The ingest's API key hashes for this state dir (`gaitlink apikey --keys`)."""
    return state_dir / "api-keys.json"


def ingest_metrics(http_port: int) -> dict:
    """The ingest's counters from /metrics, read with prometheus-client's own parser.

    `gaitlink_ingest_<name>_total` becomes `name`; a counter labelled by `reason` also
    becomes `<name>_by_reason`, a dict, with `name` its sum; a gauge `gaitlink_ingest_<name>`
    becomes `name`.
    """
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    counters: dict = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("gaitlink_ingest_"):
            continue
        name = family.name.removeprefix("gaitlink_ingest_")
        if family.type == "gauge" and family.samples:
            counters[name] = family.samples[0].value
            continue
        if family.type != "counter":
            continue
        totals = [s for s in family.samples if s.name.endswith("_total")]
        if any("reason" in s.labels for s in totals):
            by_reason = {s.labels["reason"]: int(s.value) for s in totals}
            counters[f"{name}_by_reason"] = by_reason
            counters[name] = sum(by_reason.values())
        else:  # a labelled family with no samples yet counts nothing
            counters[name] = int(totals[0].value) if totals else 0
    return counters
