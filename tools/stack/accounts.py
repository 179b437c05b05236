"""Who may connect to the stack's brokers and InfluxDB, and what each may do.

Every account's password is a random token in its own file of mode 0600 under
`STATE/secrets/` (created at the first `up`, kept afterwards). From those files the stack
renders, at every broker start and at every device added or removed:

- each broker's mosquitto password file, hashed the way mosquitto_passwd hashes
  (PBKDF2-SHA512, `$7$` format), so no broker file holds a password;
- each broker's ACL file.

Site broker: one account per device, named after the device id, and the site's gateway.
ACL *patterns* (`%u` = the username) give each device its own topics, so adding a device
needs no ACL edit. Cloud broker: the site's gateway, which may write only under the
devices of its site (the device accounts of this stack, until the registry holds sites),
and the ingest, the only account that reads the data topics.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as _random
from dataclasses import dataclass
from pathlib import Path

from gaitlink.cloud.protocol.topics import valid_device_id
from gaitlink.gateway.topics import (
    CLOUD_UPLINK_FILTERS,
    DOWNLINK_FILTERS,
    TIME_TOPIC,
    UPLINK_FILTERS,
    gateway_status_topic,
)
from gaitlink.secrets import read_secret, write_secret
from gaitlink.tools.stack.errors import StackError

SITE = "site"
CLOUD = "cloud"
INFLUX = "influx"
DEVICES = "devices"

# Service accounts are named <role>_<name>: underscores cannot occur in device ids, so no
# device account can shadow them, and the prefix says what the ACL grants.
GATEWAY = "gateway_local"  # the gateway of the local stack's one site
INGEST = "ingest_cloud"
OPERATOR = "operator_local"  # re-feeds dead letters (`gaitlink deadletter replay`)
CLOUD_ROLES = ("gateway", "ingest", "operator")
INFLUX_ADMIN = "admin"
INFLUX_WRITER = "writer"  # the ingest
INFLUX_READER = "reader"  # researchers

# The service accounts, by role: role -> (scope, username).
ROLES: dict[str, tuple[str, str]] = {
    "site_gateway": (SITE, GATEWAY),  # the gateway on the site broker
    "cloud_gateway": (CLOUD, GATEWAY),  # the gateway on the cloud broker
    "ingest": (CLOUD, INGEST),  # the ingest on the cloud broker
    "operator": (CLOUD, OPERATOR),  # may publish any data topic on the cloud broker
    "influx_admin": (INFLUX, INFLUX_ADMIN),
    "influx_writer": (INFLUX, INFLUX_WRITER),  # the ingest
    "influx_reader": (INFLUX, INFLUX_READER),  # researchers
}

# mosquitto_passwd's defaults (mosquitto 2.0): PBKDF2-SHA512, 101 iterations, 12-byte salt.
_PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12


@dataclass(frozen=True, slots=True)
class Account:
    """A username and the private file holding its password (read only when needed)."""

    username: str
    password_file: Path

    @property
    def password(self) -> str:
        return read_secret(self.password_file, f"password file of {self.username!r}")

    def device_fields(self) -> dict[str, str]:
        """The device.json fields a device logs in with (`start_device(extra=...)`)."""
        return {"mqtt_user": self.username, "mqtt_password": self.password}


def role_account(state_dir: Path, role: str) -> Account:
    if role not in ROLES:
        raise StackError(f"no stack account for role {role!r}; known: {', '.join(ROLES)}")
    return account(state_dir, *ROLES[role])


def secrets_dir(state_dir: Path) -> Path:
    return state_dir / "secrets"


def account(state_dir: Path, scope: str, username: str, *, create: bool = True) -> Account:
    """The account `username` of `scope` (site, cloud, influx, devices); made if missing."""
    path = secrets_dir(state_dir) / scope / f"{username}.password"
    if not path.exists():
        secrets_dir(state_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        if not create:
            raise StackError(f"no {scope} account {username!r} in {secrets_dir(state_dir)}")
        write_secret(path, _random.token_urlsafe(24) + "\n")
    return Account(username, path)


def check_device_id(device_id: str) -> None:
    if not valid_device_id(device_id):
        raise StackError(
            f"device id {device_id!r}: use 1-32 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit (docs/protocol.md)"
        )


def cloud_account(state_dir: Path, role: str, name: str) -> Account:
    """A cloud-broker account of `role` (gateway, ingest, operator) named `<role>_<name>`."""
    if role not in CLOUD_ROLES or not valid_device_id(name):
        raise StackError(f"cloud account {role}_{name}: role one of {CLOUD_ROLES}, name [a-z0-9-]")
    return account(state_dir, CLOUD, f"{role}_{name}")


def broker_usernames(state_dir: Path, scope: str) -> list[str]:
    """The accounts of `scope` that have a password file."""
    folder = secrets_dir(state_dir) / scope
    return sorted(p.name.removesuffix(".password") for p in folder.glob("*.password"))


def device_ids(state_dir: Path) -> list[str]:
    folder = secrets_dir(state_dir) / DEVICES
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".password") for p in folder.glob("*.password"))


def add_device(state_dir: Path, device_id: str) -> Account:
    """The device's site-broker account; created (with a new password) if it has none."""
    check_device_id(device_id)
    return account(state_dir, DEVICES, device_id)


def remove_device(state_dir: Path, device_id: str) -> bool:
    """Forget the device's account. False if it had none."""
    check_device_id(device_id)
    path = secrets_dir(state_dir) / DEVICES / f"{device_id}.password"
    if not path.exists():
        return False
    path.unlink()
    return True


# --- mosquitto files ---------------------------------------------------------------


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """`$7$<iterations>$<salt>$<hash>`: a password-file hash that mosquitto 2.x accepts."""
    salt = _random.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    encode = base64.b64encode
    return f"$7${_PBKDF2_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


def render_password_file(accounts: list[Account]) -> str:
    return "".join(f"{a.username}:{mosquitto_hash(a.password)}\n" for a in accounts)


def broker_accounts(state_dir: Path, broker: str) -> list[Account]:
    if broker == SITE:
        devices = [account(state_dir, DEVICES, d) for d in device_ids(state_dir)]
        return [role_account(state_dir, "site_gateway"), *devices]
    for role in ("cloud_gateway", "ingest", "operator"):
        role_account(state_dir, role)  # the stack's own, made at the first start
    return [account(state_dir, CLOUD, name) for name in broker_usernames(state_dir, CLOUD)]


def _suffixes(filters: tuple[str, ...]) -> list[str]:
    # "gaitlink/v1/+/imu" -> "imu": the per-device part of a topic.
    return [f.split("/+/", 1)[1] for f in filters]


def render_site_acl() -> str:
    prefix = TIME_TOPIC.rsplit("/", 1)[0]
    lines = [
        "# Generated by `gaitlink stack`; see tools/stack/accounts.py.",
        "# Devices: each account is named after its device id (%u), so a new device needs",
        "# only a password-file entry. A device writes only its own uplink topics and reads",
        "# only its own downlink topics and the time beacon.",
    ]
    lines += [f"pattern write {prefix}/%u/{s}" for s in _suffixes(UPLINK_FILTERS)]
    lines += [f"pattern read {prefix}/%u/{s}" for s in _suffixes(DOWNLINK_FILTERS)]
    lines += [f"pattern read {TIME_TOPIC}", "", f"user {GATEWAY}"]
    lines += [f"topic read {f}" for f in UPLINK_FILTERS]
    lines += [f"topic write {f}" for f in DOWNLINK_FILTERS]
    lines += [f"topic write {TIME_TOPIC}"]
    return "\n".join(lines) + "\n"


def render_cloud_acl(usernames: list[str], devices: list[str]) -> str:
    """Grants by role, the username's prefix: gateway_*, ingest_*, operator_*."""
    prefix = TIME_TOPIC.rsplit("/", 1)[0]
    gateway = [f"topic write {gateway_status_topic('+')}"]  # any id: the id is a setting
    for device in devices:
        gateway += [f"topic write {prefix}/{device}/{s}" for s in _suffixes(CLOUD_UPLINK_FILTERS)]
        gateway += [f"topic read {prefix}/{device}/{s}" for s in _suffixes(DOWNLINK_FILTERS)]
    ingest = [f"topic read {f}" for f in (*CLOUD_UPLINK_FILTERS, gateway_status_topic("+"))]
    ingest += [f"topic write {f}" for f in DOWNLINK_FILTERS]
    grants = {
        "gateway": ("A site's gateway: only under the devices of its site.", gateway),
        "ingest": ("The ingest: the only reader of the data topics.", ingest),
        "operator": ("Replays dead letters (any topic), sets configs, reads reports.",
                     [f"topic write {prefix}/#", f"topic read {prefix}/+/config/#",
                      f"topic read {prefix}/+/ota", f"topic read {prefix}/+/status"]),
    }  # fmt: skip
    lines = ["# Generated by `gaitlink stack`; see tools/stack/accounts.py."]
    for username in usernames:
        comment, topics = grants[username.split("_", 1)[0]]
        lines += ["", f"# {comment}", f"user {username}", *topics]
    return "\n".join(lines) + "\n"


def write_broker_files(state_dir: Path, broker: str, home: Path) -> tuple[Path, Path]:
    """(password file, ACL file) of the site or cloud broker, rendered into its home."""
    accounts = broker_accounts(state_dir, broker)
    passwd = write_secret(home / "passwd", render_password_file(accounts))
    if broker == SITE:
        acl_text = render_site_acl()
    else:
        acl_text = render_cloud_acl([a.username for a in accounts], device_ids(state_dir))
    return passwd, write_secret(home / "acl", acl_text)
