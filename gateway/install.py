"""`gaitlink gateway install`: the files that make a Raspberry Pi a gateway.

Writes, under `--root` (default `/`, which needs sudo):
- `etc/systemd/system/gaitlink-gateway.service`: the relay as a service of its own user,
  restarted on failure, its spool in `StateDirectory=`, the rest of the system read-only;
- `etc/mosquitto/conf.d/gaitlink-site.conf`: the site broker's listener, persistence and
  queue limits, and no anonymous access: every client logs in (docs/security.md);
- `etc/mosquitto/gaitlink-site.acl`: a device writes and reads only its own topics, the
  gateway reads the uplink and writes the downlink (the same rules as the dev stack's);
- `etc/mosquitto/gaitlink-site.passwd` (0600) with the gateway's own account, and its password
  in `etc/gaitlink/site-password` (0600, owned by the service's user): only if there is no
  password file yet, since it also holds the device accounts (never overwritten);
- `etc/gaitlink/gateway.toml`: the settings, only if there is none yet (never overwritten).

Rendering is separate from writing so tests render into a temp root and check the unit
with `systemd-analyze verify` and the broker config with a real mosquitto.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT_PATH = Path("etc/systemd/system/gaitlink-gateway.service")
MOSQUITTO_PATH = Path("etc/mosquitto/conf.d/gaitlink-site.conf")
CONFIG_PATH = Path("etc/gaitlink/gateway.toml")
ACL_PATH = Path("etc/mosquitto/gaitlink-site.acl")
PASSWD_PATH = Path("etc/mosquitto/gaitlink-site.passwd")
SITE_PASSWORD_PATH = Path("etc/gaitlink/site-password")
USER = "gaitlink"
STATE_DIRECTORY = "gaitlink-gateway"


@dataclass(frozen=True, slots=True)
class InstallPlan:
    executable: Path  # the `gaitlink` command the unit runs
    site_port: int = 1883
    site_listen: str = "0.0.0.0"
    cloud_url: str = "cloud.example.org:1883"
    gateway_id: str = "pi-01"
    user: str = USER
    # Where the rendered files name each other: the target system's root. Only a test that
    # runs the rendered broker config from a temp dir points it elsewhere.
    system_root: Path = Path("/")


def render_unit(plan: InstallPlan) -> str:
    config = "/" + str(CONFIG_PATH)
    exec_start = shlex.join([str(plan.executable), "gateway", "run", "--config", config])
    return f"""\
# Written by `gaitlink gateway install`; settings live in /{CONFIG_PATH}.
[Unit]
Description=gaitlink gateway: site broker -> disk spool -> cloud broker
Wants=network-online.target
After=network-online.target mosquitto.service time-sync.target

[Service]
Type=simple
User={plan.user}
Group={plan.user}
ExecStart={exec_start}
Restart=on-failure
RestartSec=5
# The spool: /var/lib/{STATE_DIRECTORY}, owned by {plan.user}, kept across restarts.
StateDirectory={STATE_DIRECTORY}
StateDirectoryMode=0700
# Everything else is read-only for the gateway; it writes only its state directory.
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=/var/lib/{STATE_DIRECTORY}
PrivateTmp=true
NoNewPrivileges=true
ProtectKernelTunables=true
ProtectControlGroups=true
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
# SIGTERM: the relay stops reading the site, waits up to 2 s for the cloud's acks, exits.
TimeoutStopSec=20
# Python buffers stdout when it is not a terminal; the journal wants lines as they come.
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=multi-user.target
"""


def render_mosquitto(plan: InstallPlan) -> str:
    return f"""\
# Written by `gaitlink gateway install`: the site broker the devices publish to.
listener {plan.site_port} {plan.site_listen}

# Sessions and queued QoS 1 messages survive a broker restart. The gateway's own spool
# holds the backlog of a cloud outage; this queue only needs what is in flight to it.
persistence true
autosave_interval 60

# Messages sent to one client and not yet acked. The gateway acks a message once its spool
# commit (one fsync per group) is done, so it needs a wide window to keep up with many
# devices: 20, mosquitto's default, caps it near 2 000 messages/s.
max_inflight_messages 1000
# Per client: devices reconnecting, or the gateway restarting, queue here meanwhile.
max_queued_messages 100000

# Every client logs in: each device with its own account (its id as user name), the
# gateway with its own; the ACL keeps each device to its own topics (docs/security.md).
# A new device: sudo mosquitto_passwd {_at(plan, PASSWD_PATH)} DEVICE_ID, then reload.
allow_anonymous false
password_file {_at(plan, PASSWD_PATH)}
acl_file {_at(plan, ACL_PATH)}
"""


def _at(plan: InstallPlan, rel: Path) -> Path:
    return plan.system_root / rel


def render_acl() -> str:
    from gaitlink.tools.stack.accounts import render_site_acl

    return render_site_acl().replace("`gaitlink stack`", "`gaitlink gateway install`")


def render_accounts() -> tuple[str, str]:
    """A password file holding the gateway's site account, and that account's password."""
    import secrets

    from gaitlink.tools.stack.accounts import GATEWAY, mosquitto_hash

    password = secrets.token_urlsafe(24)
    return f"{GATEWAY}:{mosquitto_hash(password)}\n", password


def _site_username() -> str:
    from gaitlink.tools.stack.accounts import GATEWAY

    return GATEWAY


def render_config(plan: InstallPlan) -> str:
    return f"""\
# gaitlink gateway settings. Environment variables GAITLINK_GATEWAY_* override these, and
# the flags of `gaitlink gateway run` override both. See docs/gateway.md.
id = "{plan.gateway_id}"

[site]
url = "127.0.0.1:{plan.site_port}"
username = "{_site_username()}"
password_file = "{_at(plan, SITE_PASSWORD_PATH)}"   # mode 0600, owner {plan.user}

[cloud]
url = "{plan.cloud_url}"
# username = "{plan.gateway_id}"
# password_file = "/etc/gaitlink/cloud-password"   # mode 0600, owner {plan.user}

[spool]
dir = "/var/lib/{STATE_DIRECTORY}"
max_bytes = "2GiB"
max_age_h = 72
reserve_bytes = "512MiB"

[http]
listen = "127.0.0.1:9108"
"""


def write(root: Path, plan: InstallPlan, dry_run: bool = False) -> list[str]:
    """Write the files under `root`; a line per file saying what happened (or, with
    `dry_run`, what would happen: nothing is written)."""
    done = []
    for rel, text, keep_existing in (
        (UNIT_PATH, render_unit(plan), False),
        (MOSQUITTO_PATH, render_mosquitto(plan), False),
        (ACL_PATH, render_acl(), False),
        (CONFIG_PATH, render_config(plan), True),
    ):
        path = root / rel
        if keep_existing and path.exists():
            done.append(f"kept      {path} (yours; not overwritten)")
            continue
        if dry_run:
            done.append(f"would write {path} ({len(text.encode())} bytes, mode 0644)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
        done.append(f"wrote     {path}")
    done.append(_write_accounts(root, dry_run))
    return done


def _write_accounts(root: Path, dry_run: bool) -> str:
    # The password file also holds the device accounts added since: never replaced.
    passwd = root / PASSWD_PATH
    if passwd.exists():
        return f"kept      {passwd} (holds your accounts; not overwritten)"
    if dry_run:
        return f"would write {passwd} and {root / SITE_PASSWORD_PATH} (the gateway's, 0600)"
    from gaitlink.secrets import write_secret

    entries, password = render_accounts()
    write_secret(root / SITE_PASSWORD_PATH, password)
    write_secret(passwd, entries)
    return f"wrote     {passwd} and {root / SITE_PASSWORD_PATH} (the gateway's account, 0600)"


def hand_over_secrets(root: Path, plan: InstallPlan) -> list[str]:
    """Give each private file to the user that reads it (root only): the password file to
    mosquitto, the gateway's password to the service's user. Either user may be missing."""
    lines = []
    for rel, owner in ((PASSWD_PATH, "mosquitto"), (SITE_PASSWORD_PATH, plan.user)):
        path = root / rel
        if path.exists() and user_exists(owner):
            shutil.chown(path, owner, owner)
            lines.append(f"owner     {path}: {owner}")
    return lines


def user_command(user: str) -> list[str]:
    """The command that creates the service's user: a system account (uid below 1000, no
    password, so nobody logs in as it), without a home directory (the spool lives in the
    unit's StateDirectory) and with no login shell."""
    return ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]


def user_exists(user: str) -> bool:
    return subprocess.run(["id", "-u", user], capture_output=True).returncode == 0


class InstallError(Exception):
    """Something the installer could not do: one line saying what and what to do."""


def register(sub: argparse._SubParsersAction) -> None:
    install = sub.add_parser(
        "install",
        help="write the systemd unit, the site broker config and the settings file",
        description="Run with sudo on the Pi. --root writes under another directory "
        "instead of / (to look before installing).",
    )
    install.add_argument("--root", type=Path, default=Path("/"), help="default /")
    install.add_argument("--cloud", default=InstallPlan.cloud_url, help="cloud broker host:port")
    install.add_argument("--id", default=InstallPlan.gateway_id, help="gateway id")
    install.add_argument("--site-port", type=int, default=1883, help="site broker port")
    install.add_argument(
        "--dry-run",
        action="store_true",
        help="say what it would write and run, change nothing (needs no sudo)",
    )
    install.set_defaults(func=_install)


def _install(args: argparse.Namespace) -> int:
    # The `gaitlink` of the environment running this, so the unit runs the same install.
    beside = Path(sys.executable).parent / "gaitlink"
    executable = beside if beside.exists() else Path(shutil.which("gaitlink") or sys.argv[0])
    plan = InstallPlan(
        executable=executable.absolute(),
        site_port=args.site_port,
        cloud_url=args.cloud,
        gateway_id=args.id,
    )
    root = args.root
    system = root.resolve() == Path("/")
    if system and not args.dry_run and os.geteuid() != 0:
        print(
            "gaitlink gateway install: writing to / needs root: run it with sudo "
            "(or --dry-run to see what it would do, or --root DIR to write elsewhere)",
            file=sys.stderr,
        )
        return 2
    try:
        lines = write(root, plan, dry_run=args.dry_run)
        print("\n".join(lines))
        # Under another --root the user belongs to that system, not to this one.
        if system:
            print(create_user(plan.user, dry_run=args.dry_run))
            if not args.dry_run:
                print("\n".join(hand_over_secrets(root, plan)))
    except (OSError, InstallError) as exc:
        print(f"gaitlink gateway install: {exc}", file=sys.stderr)
        return 2
    if system and not args.dry_run:
        print("next: sudo systemctl daemon-reload && sudo systemctl restart mosquitto")
        print("      sudo systemctl enable --now gaitlink-gateway")
    return 0


def create_user(user: str, dry_run: bool = False) -> str:
    """Create the service's user unless it exists; a line saying what was (or would be) done."""
    if user_exists(user):
        return f"kept      system user {user} (exists)"
    command = user_command(user)
    if dry_run:
        return f"would run {shlex.join(command)}"
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise InstallError(
            f"useradd not found: create the system user {user!r} by hand "
            f"({shlex.join(command)}), then run install again"
        ) from None
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise InstallError(
            f"could not create the system user {user!r}: useradd exited {result.returncode} "
            f"({why}); the files are written, create the user by hand and start the service"
        )
    return f"created   system user {user}"
