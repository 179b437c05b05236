"""The `gaitlink` command: one entry point, one subcommand per room of the project.

Each subcommand lives in its own module and exposes `register(subparsers)`. A machine may
have installed only some extras (a Raspberry Pi: just `gateway`), so a room whose
dependencies are missing still appears in --help, and using it says which extra to
install, instead of `gaitlink` failing for every subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (subcommand, module, extra it needs). Order is the order of `gaitlink --help`.
SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("stack", "gaitlink.tools.stack.cli", "dev"),
    ("demo", "gaitlink.tools.demo", "dev"),
    ("device", "gaitlink.tools.device", "dev"),
    ("broker", "gaitlink.tools.broker", "dev"),
    ("firmware", "gaitlink.tools.firmware", "dev"),
    ("gateway", "gaitlink.gateway.cli", "gateway"),
    ("ingest", "gaitlink.cloud.ingest.cli", "cloud"),
    ("apikey", "gaitlink.cloud.api.apikey_cli", "cloud"),
    ("deadletter", "gaitlink.cloud.ingest.deadletter_cli", "cloud"),
    ("gait", "gaitlink.cloud.gait.cli", "cloud"),
    ("session", "gaitlink.tools.session", "cloud"),
    ("export", "gaitlink.research.export_cli", "research"),
    ("plot", "gaitlink.research.plot_cli", "plot"),
    ("bench", "gaitlink.tools.bench.cli", "dev"),
)

_OURS = ("gaitlink",)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI; with `only`, just that subcommand is imported (see main)."""
    parser = argparse.ArgumentParser(
        prog="gaitlink",
        description="gaitlink: wearable gait sensing from ESP32 firmware to InfluxDB.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name, extra in SUBCOMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if not missing or missing in _OURS:
                raise  # our own code is broken: that must surface, not hide
            _register_unavailable(sub, name, extra, missing)
            continue
        module.register(sub)
    return parser


def _register_unavailable(sub, name: str, extra: str, missing: str) -> None:
    hint = f"needs the '{extra}' extra ({missing} is not installed)"
    parser = sub.add_parser(name, help=hint, add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def explain(_args: argparse.Namespace) -> int:
        print(
            f"gaitlink {name}: {hint}. Install it with: pip install 'gaitlink[{extra}]'",
            file=sys.stderr,
        )
        return 2

    # Whatever follows (options included) is not parsed: the extra is missing anyway.
    parser.set_defaults(func=explain, unavailable=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Import only the subcommand asked for: `gaitlink gateway run` on a Pi must not carry
    # numpy and numba (80 MB) because another room imports them at module level.
    names = {name for name, _, _ in SUBCOMMANDS}
    parser = build_parser(argv[0] if argv and argv[0] in names else None)
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "unavailable", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
