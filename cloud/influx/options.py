"""Command-line options that say which InfluxDB to use, shared by the CLI commands.

Secrets never come from argv (every user of the machine can read it): the password and
token come from environment variables.
"""

from __future__ import annotations

import argparse
import os

from gaitlink.cloud.influx.client import InfluxSettings

PASSWORD_ENV = "GAITLINK_INFLUX_PASSWORD"
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
    group.add_argument(
        "--influx-user",
        default=os.environ.get("GAITLINK_INFLUX_USER"),
        help=f"InfluxDB 1.x user (default $GAITLINK_INFLUX_USER); password from ${PASSWORD_ENV}"
        f", or a 2.x/3.x token from ${TOKEN_ENV}",
    )


def influx_settings(args: argparse.Namespace, timeout_s: float = 60.0) -> InfluxSettings:
    return InfluxSettings(
        url=args.influx_url,
        database=args.database,
        username=args.influx_user,
        password=os.environ.get(PASSWORD_ENV),
        token=os.environ.get(TOKEN_ENV),
        timeout_s=timeout_s,
    )
