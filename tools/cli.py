"""The `gaitlink` command: one entry point, one subcommand per room of the project.

Each subcommand lives in its own module and exposes `register(subparsers)`. Those modules
import only the standard library at import time, so a Raspberry Pi that installed just the
gateway extra can still run `gaitlink gateway …` without numpy or aiohttp present.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (subcommand module, one-line help). Order is the order of `gaitlink --help`.
SUBCOMMANDS: tuple[str, ...] = (
    "tools.stack.cli",
    "tools.demo",
    "tools.device",
    "gateway.cli",
    "cloud.ingest.cli",
    "cloud.gait.cli",
    "tools.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gaitlink",
        description="gaitlink: wearable gait sensing from ESP32 firmware to InfluxDB.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A room that is not installed on this machine (e.g. cloud on a Pi) is simply
            # absent from --help; anything else missing is a real bug and must surface.
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
