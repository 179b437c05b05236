"""`gaitlink gateway install`: the files that make a Raspberry Pi a gateway.

Writes, under `--root` (default `/`, which needs sudo):
- `etc/systemd/system/gaitlink-gateway.service`: the relay as a service of its own user,
  restarted on failure, its spool in `StateDirectory=`, the rest of the system read-only;
- `etc/mosquitto/conf.d/gaitlink-site.conf`: the site broker's listener, persistence and
  queue limits (accounts and ACL: docs/security.md);
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

# Accounts and ACL: see docs/security.md. Until they are set, anyone on the network can
# publish here; keep the listener on a private network.
allow_anonymous true
"""


def render_config(plan: InstallPlan) -> str:
    return f"""\
# gaitlink gateway settings. Environment variables GAITLINK_GATEWAY_* override these, and
# the flags of `gaitlink gateway run` override both. See docs/gateway.md.
id = "{plan.gateway_id}"

[site]
url = "127.0.0.1:{plan.site_port}"

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
    return done


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
