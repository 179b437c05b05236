"""`gaitlink stack up|down|status`: the local stack from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from gaitlink.tools.stack.errors import StackError
from gaitlink.tools.stack.stack import ComponentStatus, Stack
from gaitlink.tools.stack.state import STATE_DIR_ENV


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        help=f"where configs, data, logs and stack.json live "
        f"(default: ${STATE_DIR_ENV}, else ./.gaitlink)",
    )
    ports = argparse.ArgumentParser(add_help=False)
    ports.add_argument("--site-port", type=int, help="site broker port (default 18830)")
    ports.add_argument("--cloud-port", type=int, help="cloud broker port (default 18840)")
    ports.add_argument("--influx-port", type=int, help="InfluxDB HTTP port (default 18086)")
    ports.add_argument("--database", help="InfluxDB database to create (default gaitlink)")
    ports.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for each component"
    )

    stack = subparsers.add_parser(
        "stack",
        help="run the local site broker, cloud broker and InfluxDB",
        description="Run two mosquitto brokers and InfluxDB 1.x on 127.0.0.1. "
        "Ports left out come from the state dir's stack.json, else the defaults.",
    )
    actions = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up", parents=[common, ports], help="start the stack (no-op if it already runs)"
    )
    up.set_defaults(func=_up)
    down = actions.add_parser(
        "down", parents=[common], help="stop the processes this state dir started"
    )
    down.set_defaults(func=_down)
    status = actions.add_parser(
        "status", parents=[common], help="one line per component; exit 1 if any is not running"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead")
    status.set_defaults(func=_status)


def _stack(args: argparse.Namespace) -> Stack:
    return Stack(
        args.state_dir,
        site_port=getattr(args, "site_port", None),
        cloud_port=getattr(args, "cloud_port", None),
        influx_port=getattr(args, "influx_port", None),
        database=getattr(args, "database", None),
        timeout=getattr(args, "timeout", 30.0),
    )


def _format(status: ComponentStatus) -> str:
    pid = str(status.pid) if status.pid is not None else "-"
    return f"{status.name:<13} {status.state:<10} pid {pid:<8} {status.address}"


def _up(args: argparse.Namespace) -> int:
    stack = _stack(args)
    try:
        outcome = stack.up()
    except StackError as exc:
        print(f"gaitlink stack up: {exc}", file=sys.stderr)
        return 1
    for status in stack.status():
        print(f"{_format(status)}  ({outcome[status.name]})")
    print(f"\nstate dir: {stack.state_dir}   database: {stack.database}")
    print("Point gateway, ingest and tools at this stack with:")
    for name, value in stack.env().items():
        print(f"  export {name}={value}")
    return 0


def _down(args: argparse.Namespace) -> int:
    stack = _stack(args)
    for name, what in stack.down().items():
        print(f"{name:<13} {what}")
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = _stack(args).status()
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
    else:
        for status in statuses:
            print(_format(status))
    return 0 if all(s.state == "running" for s in statuses) else 1
