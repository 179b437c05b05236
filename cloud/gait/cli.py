"""`gaitlink gait segment FILE.csv`: gait events and cycles of a recording on disk;
`gaitlink gait build`: the kernels compiled ahead of time (cloud/aot.py).

Reads a CSV with a header row, writes events.csv (time_s, kind) and cycles.csv (every
cycle field) and, with --plot, a PNG of the mean ± SD normalised cycle per channel.
Bad input ends with one line on stderr naming what was wrong and exit code 2.
Only the standard library is imported at module import (numpy etc. in the handler).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from gaitlink.cloud.aot import add_build_parser

CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
GYRO_UNITS = ("rad/s", "deg/s")
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """A problem with the user's file or options; the message says what and where."""


def register(subparsers: argparse._SubParsersAction) -> None:
    gait = subparsers.add_parser(
        "gait",
        help="gait segmentation of recordings on disk",
        description="Gait events and cycles from one IMU (foot, shank or lower back).",
    )
    actions = gait.add_subparsers(dest="gait_command", metavar="ACTION", required=True)
    seg = actions.add_parser(
        "segment",
        help="segment a CSV recording into gait events and cycles",
        description="Segment FILE.csv (a header row; six columns ax, ay, az in m/s² and gx, "
        "gy, gz in the body frame: x forward, y left, z up) and write events.csv and "
        "cycles.csv. Other columns (an index, timestamps) are ignored.",
    )
    seg.add_argument("file", type=Path, metavar="FILE.csv")
    # Rate and placement are checked by the handler, so a bad value gets the same
    # one-line error as every other bad input.
    seg.add_argument("--rate", required=True, metavar="HZ", help="sampling rate, 20–1000 Hz")
    seg.add_argument("--placement", required=True, metavar="P", help="foot, shank or lower_back")
    seg.add_argument(
        "--out-dir",
        type=Path,
        default=Path("."),
        help="where events.csv, cycles.csv go (default: current directory; created if missing)",
    )
    seg.add_argument("--plot", type=Path, metavar="OUT.png", help="also plot the mean cycle")
    seg.add_argument(
        "--gyro-unit", default="rad/s", metavar="UNIT", help="rad/s (default) or deg/s"
    )
    seg.add_argument(
        "--columns",
        nargs="+",
        metavar="NAME",
        help="the six columns to read as ax ay az gx gy gz, space- or comma-separated "
        "(default: ax ay az gx gy gz)",
    )
    seg.set_defaults(func=_segment)
    add_build_parser(
        actions, "gait", "gaitlink.cloud.gait._compiled",
        help="compile the gait kernels ahead of time (tools/setup.sh runs it)",
        description="Compile the numba gait kernels into a C extension beside their sources, "
        "so services load them without numba (~150 MB less memory). Does nothing when a "
        "build of the current sources is there.",
    )  # fmt: skip


def _segment(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BadInput as exc:
        print(f"gaitlink gait segment: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from gaitlink.cloud.gait import PLACEMENTS, lookahead_s, segment

    rate = _parse_rate(args.rate)
    if args.placement not in PLACEMENTS:
        raise BadInput(f"unknown placement {args.placement!r}; use one of {', '.join(PLACEMENTS)}")
    try:
        lookahead_s(args.placement, rate)  # the method's own rate check, before reading
    except ValueError as exc:
        raise BadInput(f"--rate {args.rate}: {exc}") from None
    if args.gyro_unit not in GYRO_UNITS:
        raise BadInput(f"unknown --gyro-unit {args.gyro_unit!r}; use rad/s or deg/s")
    columns = _parse_columns(args.columns)

    samples = np.array(read_samples(args.file, columns), dtype=np.float64).reshape(-1, 6)
    if args.gyro_unit == "deg/s":
        samples[:, 3:] = np.radians(samples[:, 3:])
    result = segment(samples, rate, args.placement)

    out_dir = args.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        events_path = out_dir / "events.csv"
        cycles_path = out_dir / "cycles.csv"
        _write_events(events_path, result.initial_contacts, result.final_contacts)
        _write_cycles(cycles_path, result.cycles)
        plotted = (
            _plot(args.plot, result.normalized, result.valid_cycles["side"], args.file.name)
            if args.plot
            else None
        )
    except OSError as exc:
        raise BadInput(f"cannot write output: {exc.strerror or exc}: {exc.filename}") from None

    cycles = result.cycles
    print(
        f"{len(samples)} samples, {len(result.initial_contacts)} initial contacts, "
        f"{len(result.final_contacts)} final contacts, {len(cycles)} cycles "
        f"({int(cycles['valid'].sum())} valid) -> {events_path}, {cycles_path}"
        + (f", {plotted}" if plotted else "")
    )
    if args.plot and not plotted:
        print("no valid cycles: no plot written", file=sys.stderr)
    return 0


def _parse_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise BadInput(f"--rate must be a number in Hz, got {text!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise BadInput(f"--rate must be a positive number in Hz, got {text!r}")
    return rate


def _parse_columns(given: list[str] | None) -> tuple[str, ...]:
    if not given:
        return CHANNELS
    names = tuple(n.strip() for part in given for n in part.split(",") if n.strip())
    if len(names) != 6:
        raise BadInput(
            f"--columns needs six names (for ax ay az gx gy gz), got {len(names)}: "
            f"{' '.join(names)}"
        )
    return names


def read_samples(path: Path, columns: tuple[str, ...]) -> list[list[float]]:
    """The six named columns of a CSV with a header row, as floats; BadInput if not."""
    if not path.exists():
        raise BadInput(f"no such file: {path}")
    if not path.is_file():
        raise BadInput(f"not a file: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise BadInput(f"{path} is empty; expected a header row naming the columns")
            where = {}
            for i, name in enumerate(header):
                where.setdefault(name.strip().lower(), i)
            missing = [c for c in columns if c.lower() not in where]
            if missing:
                raise BadInput(
                    f"{path} has no column {', '.join(repr(c) for c in missing)}; "
                    f"its header is: {','.join(header)} (use --columns to name six columns)"
                )
            idx = [where[c.lower()] for c in columns]
            rows = []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank line
                rows.append(_numbers(row, idx, columns, reader.line_num))
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not a text CSV file") from None
    except csv.Error as exc:
        raise BadInput(f"{path}: malformed CSV: {exc}") from None
    if not rows:
        raise BadInput(f"{path} has a header but no data rows")
    return rows


def _numbers(row: list[str], idx: list[int], names: tuple[str, ...], line: int) -> list[float]:
    out = []
    for i, name in zip(idx, names, strict=True):
        if i >= len(row):
            raise BadInput(f"line {line}: column {name!r} is missing (row has {len(row)} fields)")
        cell = row[i].strip()
        try:
            value = float(cell)
        except ValueError:
            raise BadInput(f"line {line}, column {name!r}: {cell!r} is not a number") from None
        if math.isinf(value):  # NaN is a dropout the segmentation flags; inf is garbage
            raise BadInput(f"line {line}, column {name!r}: {cell!r} is not a finite number")
        out.append(value)
    return out


def _write_events(path: Path, initial, final) -> None:
    events = sorted([(float(t), "IC") for t in initial] + [(float(t), "FC") for t in final])
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("time_s", "kind"))
        writer.writerows((f"{t:.6f}", kind) for t, kind in events)


def _write_cycles(path: Path, cycles) -> None:
    names = cycles.dtype.names
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for row in cycles:
            writer.writerow(_cell(row[name]) for name in names)


def _cell(value) -> str:
    if isinstance(value, float):  # np.float64 included
        return f"{value:.9g}"
    return str(value)


def _plot(path: Path, normalized, sides, title: str) -> Path | None:
    """Mean ± SD of the normalised valid cycles, one panel per channel; None if none.

    Lower back (cycles named left/right): left, right and pooled, in the ipsi/contra
    convention `segment` uses (left cycles mirrored: ay, gx, gz negated)."""
    if len(normalized) == 0:
        return None
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise BadInput("--plot needs matplotlib: pip install 'gaitlink[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pct = [100.0 * i / (normalized.shape[1] - 1) for i in range(normalized.shape[1])]
    by_side = any(side in ("left", "right") for side in sides)
    groups = [("pooled", normalized, "k" if by_side else "C0")]
    if by_side:
        groups += [
            (f"{side} ({sum(s == side for s in sides)})", normalized[sides == side], colour)
            for side, colour in (("left", "C0"), ("right", "C3"))
            if any(s == side for s in sides)
        ]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6), sharex=True)
    for c, ax in enumerate(axes.flat):
        for label, cycles, colour in groups:
            mean, sd = cycles.mean(axis=0)[:, c], cycles.std(axis=0)[:, c]
            ax.plot(pct, mean, color=colour, label=label, lw=1.5 if label == "pooled" else 1)
            ax.fill_between(pct, mean - sd, mean + sd, alpha=0.15, color=colour)
        unit = "m/s²" if c < 3 else "rad/s"
        ax.set_title(f"{CHANNELS[c]} [{unit}]")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("% of gait cycle")
    heading = f"{title}: mean ± SD of {len(normalized)} valid cycles"
    if by_side:
        axes[0, 0].legend(fontsize=7)
        heading += (
            "\nipsi/contra: each cycle relative to its own foot; left cycles mirrored "
            "(ay, gx, gz negated), so +y points to the contralateral side"
        )
    fig.suptitle(heading, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
