"""What `gaitlink export` and `gaitlink plot` share: which data, which database, errors."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from gaitlink.cloud.influx.client import InfluxError
from gaitlink.cloud.influx.options import add_influx_arguments, influx_settings
from gaitlink.cloud.influx.sync import InfluxV1Sync
from gaitlink.research.api import Research


def add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subject", required=True, help="subject id, e.g. LAB1_AB01")
    parser.add_argument("--task", required=True, help="task, e.g. level_walking")
    parser.add_argument(
        "--placement", default=None, choices=("foot", "shank", "lower_back"),
        help="which sensor, when the subject wore several for the task",
    )  # fmt: skip
    parser.add_argument(
        "--chunk-minutes", type=float, default=10.0, help="longest span of one query (10)"
    )
    add_influx_arguments(parser)


def research_from(args: argparse.Namespace) -> Research:
    if not args.chunk_minutes > 0:
        raise ValueError("--chunk-minutes must be positive")
    client = InfluxV1Sync(influx_settings(args))
    return Research(client, chunk=timedelta(minutes=args.chunk_minutes))


def run_reporting(command: str, func, args: argparse.Namespace) -> int:
    """Run ``func(args)``; a refusal is one line on stderr and exit 2, never a traceback."""
    try:
        return func(args)
    except (InfluxError, LookupError, ValueError, OSError) as exc:
        print(f"gaitlink {command}: {exc}", file=sys.stderr)
        return 2
