"""Command-line options that say which InfluxDB to use, shared by the CLI commands.

Secrets never come from argv (every user of the machine can read it): the password comes
from a private file (--influx-password-file, $GAITLINK_INFLUX_PASSWORD_FILE) or
$GAITLINK_INFLUX_PASSWORD, a 2.x/3.x token from $GAITLINK_INFLUX_TOKEN (or the variable that
--influx-token-env names).
"""

from __future__ import annotations

import argparse
import os

from gaitlink.cloud.influx.v1 import InfluxSettings
from gaitlink.secrets import add_login_options, login_from

TOKEN_ENV = "GAITLINK_INFLUX_TOKEN"


def add_influx_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("InfluxDB")
    group.add_argument(
        "--influx-url",
        default=os.environ.get("GAITLINK_INFLUX_URL", "http://127.0.0.1:8086"),
        help="v1 HTTP API (default $GAITLINK_INFLUX_URL or http://127.0.0.1:8086)",
    )
    group.add_argument(
        "--database",
        default=os.environ.get("GAITLINK_INFLUX_DB", "gaitlink"),
        help="database (default $GAITLINK_INFLUX_DB or gaitlink)",
    )
    add_login_options(group, "influx", "GAITLINK_INFLUX", "InfluxDB 1.x")
    group.add_argument(
        "--influx-token-env",
        default=TOKEN_ENV,
        help=f"env var holding an InfluxDB 2.x/3.x token (default {TOKEN_ENV}); secrets are "
        "read from the environment, never from the command line, which every user of the "
        "machine can read",
    )


def influx_settings(args: argparse.Namespace, timeout_s: float = 60.0) -> InfluxSettings:
    """Raises SecretError (a ValueError) for an exposed or empty password file."""
    username, password = login_from(args, "influx", "GAITLINK_INFLUX", "InfluxDB")
    return InfluxSettings(
        url=args.influx_url,
        database=args.database,
        username=username,
        password=password,
        token=os.environ.get(args.influx_token_env),
        timeout_s=timeout_s,
    )
