"""`gaitlink apikey create|list|revoke`: the HTTP API's bearer keys.

`create` prints the key once, alone on stdout, so it can be redirected straight into a file
that only its owner reads (docs/api.md); only its scrypt hash is stored. No key is ever
taken from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_KEY_FILE = ".gaitlink/api-keys.json"


def default_key_file() -> str:
    return os.environ.get("GAITLINK_API_KEYS", DEFAULT_KEY_FILE)


def register(subparsers: argparse._SubParsersAction) -> None:
    from gaitlink.cloud.api.keystore import ROLES

    parser = subparsers.add_parser("apikey", help="create, list and revoke HTTP API keys")
    parser.add_argument(
        "--keys",
        default=default_key_file(),
        help=f"key file (default $GAITLINK_API_KEYS or {DEFAULT_KEY_FILE}); hashes only, 0600",
    )
    sub = parser.add_subparsers(dest="apikey_command", required=True)
    create = sub.add_parser("create", help="make a key and print it once on stdout")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--device", default=None, help="device id (device keys only)")
    create.set_defaults(func=_create)
    listing = sub.add_parser("list", help="show keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(func=_list)
    revoke = sub.add_parser("revoke", help="revoke a key by its id (from `list`)")
    revoke.add_argument("id")
    revoke.set_defaults(func=_revoke)


def _key_file(args: argparse.Namespace):
    from gaitlink.cloud.api.keystore import KeyFile

    return KeyFile(Path(args.keys))


def _fail(exc: Exception) -> int:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    print(f"gaitlink apikey: {text}", file=sys.stderr)
    return 2


def _create(args: argparse.Namespace) -> int:
    from gaitlink.cloud.protocol.messages import DEVICE_ID_PATTERN

    if args.device is not None and not _matches(DEVICE_ID_PATTERN, args.device):
        return _fail(ValueError(f"--device {args.device!r} is not a device id"))
    try:
        key = _key_file(args).create(args.name, args.role, args.device)
    except (ValueError, OSError) as exc:
        return _fail(exc)
    print(key)
    print(
        f"gaitlink apikey: {args.role} key for {args.name!r} created; it is shown only this "
        f"once, store it in a file only you can read",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        keys = _key_file(args).load()
    except (ValueError, OSError) as exc:
        return _fail(exc)
    print(f"{'id':<12}  {'role':<10}  {'device':<16}  {'created':<20}  {'revoked':<20}  name")
    for key in keys:
        if key.revoked and not args.all:
            continue
        row = key.public()
        print(
            f"{row['id']:<12}  {row['role']:<10}  {row['device'] or '-':<16}  "
            f"{row['created']:<20}  {row['revoked'] or '-':<20}  {row['name']}"
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        key = _key_file(args).revoke(args.id)
    except (KeyError, ValueError, OSError) as exc:
        return _fail(exc)
    print(f"gaitlink apikey: revoked {key.id} ({key.role}, {key.name!r})", file=sys.stderr)
    return 0


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.fullmatch(pattern.rstrip("$"), text) is not None
