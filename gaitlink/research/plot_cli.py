"""`gaitlink plot cycles|session`: figures of a subject's task, straight from InfluxDB."""

from __future__ import annotations

import argparse

# At import: without the 'plot' extra, `gaitlink plot` says which extra to install.
import matplotlib  # noqa: F401

from gaitlink.research.options import add_selection, research_from, run_reporting


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plot", help="plot cycles or a session's cadence")
    sub = parser.add_subparsers(dest="plot_command", required=True)
    cycles = sub.add_parser("cycles", help="mean ± SD over the gait cycle, a panel per channel")
    session = sub.add_parser(
        "session", help="cadence and stride time over time, invalid cycles marked"
    )
    for p in (cycles, session):
        add_selection(p)
        p.add_argument("--out", required=True, help="image file, e.g. fig.png")
    cycles.add_argument(
        "--channels", default=None, help="comma-separated, e.g. gy,az (default all six)"
    )
    cycles.set_defaults(func=lambda args: run_reporting("plot cycles", _cycles, args))
    session.set_defaults(func=lambda args: run_reporting("plot session", _session, args))


def _cycles(args: argparse.Namespace) -> int:
    from gaitlink.cloud.gait.table import CHANNELS
    from gaitlink.research.plots import plot_cycles
    from gaitlink.research.variables import channel_of

    research = research_from(args)
    wanted = args.channels.split(",") if args.channels else list(CHANNELS)
    data, _names, table = research.cycles_with_table(
        args.subject, args.task, channels=wanted, placement=args.placement
    )
    if data.shape[0] == 0:
        raise LookupError(f"no valid cycles of {args.subject} doing {args.task}")
    placement = args.placement or research.session_list(args.subject, args.task)[0].placement
    channels = [channel_of(c, placement) for c in wanted]
    devices = ", ".join(sorted(set(table["device"]))) if "device" in table else ""
    title = f"{args.subject} {args.task} ({placement}; {devices})"
    print(plot_cycles(data, channels, title, args.out))
    return 0


def _session(args: argparse.Namespace) -> int:
    from gaitlink.research.plots import plot_session

    research = research_from(args)
    table = research.cycles_table(args.subject, args.task, placement=args.placement)
    if table.empty:
        raise LookupError(f"no cycles of {args.subject} doing {args.task}")
    print(plot_session(table, f"{args.subject} {args.task}", args.out))
    return 0
