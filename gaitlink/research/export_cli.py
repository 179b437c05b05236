"""`gaitlink export`: a subject's task to LocoHub-layout parquet (phase, and raw time)."""

from __future__ import annotations

import argparse

# At import: without the 'research' extra, `gaitlink export` says which extra to install.
import pyarrow  # noqa: F401

from gaitlink.research.options import add_selection, research_from, run_reporting


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="cycles of a subject's task as LocoHub-layout parquet"
    )
    add_selection(parser)
    parser.add_argument("--out", required=True, help="phase file, e.g. study_phase.parquet")
    parser.add_argument(
        "--time-out", default=None, help="also the raw samples, e.g. study_time.parquet"
    )
    parser.add_argument(
        "--all-cycles", action="store_true", help="invalid cycles too (default: valid only)"
    )
    parser.set_defaults(func=lambda args: run_reporting("export", _export, args))


def _export(args: argparse.Namespace) -> int:
    from gaitlink.research.export import export_phase, export_time

    research = research_from(args)
    written, skipped = export_phase(
        research, args.subject, args.task, args.out,
        placement=args.placement, valid_only=not args.all_cycles,
    )  # fmt: skip
    note = f" ({skipped} left out: samples missing)" if skipped else ""
    print(f"{args.out}: {written} cycles × 150 rows{note}")
    if args.time_out:
        samples = export_time(
            research, args.subject, args.task, args.time_out, placement=args.placement
        )
        print(f"{args.time_out}: {samples} samples")
    return 0
