"""`gaitlink broker add-device|remove-device|devices`: device accounts on the site broker.

An account is what lets a device connect at all: its password file entry (mosquitto's
hashing) plus the ACL patterns that limit it to its own topics. Removing the account is how
a lost or stolen device is shut out (docs/security.md).
"""

from __future__ import annotations

import argparse
import sys

from gaitlink.tools.stack.state import STATE_DIR_ENV


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "broker", help="device accounts on the local stack's site broker"
    )
    actions = parser.add_subparsers(dest="broker_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir", help=f"the stack's state dir (default: ${STATE_DIR_ENV}, else ./.gaitlink)"
    )
    add = actions.add_parser(
        "add-device", parents=[common], help="give a device an account (kept if it has one)"
    )
    add.add_argument("device_id", metavar="ID")
    add.set_defaults(func=_add)
    remove = actions.add_parser(
        "remove-device", parents=[common], help="revoke a device's account; it is disconnected"
    )
    remove.add_argument("device_id", metavar="ID")
    remove.set_defaults(func=_remove)
    listing = actions.add_parser("devices", parents=[common], help="list the device accounts")
    listing.set_defaults(func=_list)


def _add(args: argparse.Namespace) -> int:
    from gaitlink.tools.stack import Stack, StackError

    try:
        device = Stack(args.state_dir).add_device(args.device_id)
    except (StackError, ValueError) as exc:
        print(f"gaitlink broker: {exc}", file=sys.stderr)
        return 2
    print(f"{device.username}: account on the site broker; password in {device.password_file}")
    print("Deploy it to the device's device.json (mqtt_user, mqtt_password); never in argv.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from gaitlink.tools.stack import Stack, StackError

    try:
        removed = Stack(args.state_dir).remove_device(args.device_id)
    except (StackError, ValueError) as exc:
        print(f"gaitlink broker: {exc}", file=sys.stderr)
        return 2
    if not removed:
        print(f"gaitlink broker: {args.device_id} has no account", file=sys.stderr)
        return 1
    print(f"{args.device_id}: account removed; the brokers refuse it from now on")
    return 0


def _list(args: argparse.Namespace) -> int:
    from gaitlink.tools.stack import Stack, accounts

    for device_id in accounts.device_ids(Stack(args.state_dir).state_dir):
        print(device_id)
    return 0
