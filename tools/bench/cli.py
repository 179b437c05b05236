"""`gaitlink bench gait-accuracy|gait-speed|research|gateway`: the benchmarks.

Only the standard library is imported here; numpy, numba and the segmentation load
inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gaitlink.tools.argtypes import in_range

_POSITIVE_INT = in_range(int, 1)
_POSITIVE_S = in_range(float, 0, low_open=True, unit="s")


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="benchmark the gait segmentation (accuracy, speed) and the gateway",
        description="Benchmarks of cloud.gait (docs/benchmarks.md) and of the gateway "
        "(docs/gateway.md).",
    )
    which = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)

    accuracy = which.add_parser(
        "gait-accuracy",
        help="IC/FC precision, recall, F1, MAE on real and synthetic walking",
        description="Event accuracy of `segment` on the gaitmap foot recordings (vs motion "
        "capture), on synthetic walks of every placement, rate and cadence, and cycle "
        "statistics of the MS recordings. Prints markdown.",
    )
    accuracy.add_argument(
        "--data",
        type=Path,
        help="folder with imu_sample.csv etc. (default: ../shared/data/gaitmap-foot "
        "relative to the repository root)",
    )
    accuracy.add_argument(
        "--lowback-data",
        type=Path,
        help="folder with the lower-back recordings (<trial>_imu.csv, _initial_contacts.csv, "
        "_walking_bouts.csv; default: ../shared/data/mobilised-lowback)",
    )
    accuracy.add_argument(
        "--plot", type=Path, metavar="DIR", help="write a Bland–Altman plot per real dataset here"
    )
    accuracy.add_argument("--quick", action="store_true", help="a small synthetic grid")
    accuracy.add_argument("--json", action="store_true", help="print JSON instead")
    accuracy.set_defaults(func=_accuracy)

    speed = which.add_parser(
        "gait-speed",
        help="throughput per core, memory per stream, JIT time, vs reference and peers",
        description="Samples/s per core of `segment`, of the reference implementation and of "
        "GaitStream (50-sample pushes), bytes per stream, first-call JIT time with and "
        "without the numba cache, and optionally gaitmap / mobgap on the same data. "
        "Per-core figures run in a subprocess pinned to one CPU. Prints markdown.",
    )
    speed.add_argument("--quick", action="store_true", help="one minute of data, 2 repeats")
    speed.add_argument("--repeats", type=_POSITIVE_INT, help="timed repeats (median reported)")
    speed.add_argument(
        "--with-peers",
        action="store_true",
        help="pip install gaitmap and mobgap into a temporary venv (never the project's) "
        "and time them on the same data",
    )
    speed.add_argument(
        "--peer-venv",
        type=Path,
        help="reuse (or create) the peers' venv here instead of a temporary one",
    )
    speed.add_argument(
        "--baseline",
        metavar="REV",
        help="also time cloud/gait as of this git revision (e.g. main, HEAD~2), in turns "
        "with this tree's in the same run: the machine's load moves the absolute figures, "
        "the ratio compares the code",
    )
    speed.add_argument("--json", action="store_true", help="print JSON instead")
    speed.set_defaults(func=_speed)

    fw = which.add_parser(
        "firmware",
        help="firmware sampling end to end: loss, heap, CPU per sample (MicroPython, 100k heap)",
        description="Runs the real firmware under `micropython -X heapsize=100k` against the "
        "sensor simulator and a real mosquitto at each rate, checks every sample against the "
        "simulator's truth after the ingest's de-duplication, and reports heap and CPU per "
        "sample with an ESP32 estimate. Prints markdown.",
    )
    fw.add_argument("--rates", default="100,200,500", help="comma-separated, each dividing 1000")
    fw.add_argument("--seconds", type=_POSITIVE_S, default=600.0, help="simulated seconds per rate")
    fw.add_argument(
        "--warp",
        type=in_range(int, 0),
        default=0,
        help="simulated / wall time (0: 1000 // rate; 1: real)",
    )
    fw.add_argument(
        "--link-drops", type=in_range(int, 0), default=0, help="broker restarts during each run"
    )
    fw.add_argument(
        "--esp32-factor",
        type=in_range(float, 0, low_open=True),
        help="desktop/ESP32 speed factor to apply",
    )
    fw.add_argument("--json", action="store_true", help="print JSON instead")
    fw.set_defaults(func=_firmware)

    research = which.add_parser(
        "research",
        help="time and peak memory to pull one hour of one device's cycles",
        description="Writes an hour of a synthetic walker (samples and cycles, as the "
        "ingest writes them) to InfluxDB in a throwaway local stack, then times "
        "gaitlink.research get_cycles in a fresh process per repeat (median) and "
        "measures its peak memory. Prints markdown.",
    )
    research.add_argument(
        "--seconds",
        type=in_range(float, 60, 6 * 3600, unit="s"),
        default=3600.0,
        help="data (3600)",
    )
    research.add_argument("--repeats", type=_POSITIVE_INT, default=3, help="timed pulls (3)")
    research.add_argument("--json", action="store_true", help="print JSON instead")
    research.set_defaults(func=_research)

    gateway = which.add_parser(
        "gateway",
        help="gateway throughput, added latency, drain rate and RSS vs direct mosquitto",
        description="Real mosquitto brokers and `gaitlink gateway run` (spool on, pinned to "
        "one CPU) in a temp dir; a direct publish -> subscribe through one mosquitto in the "
        "same run is the baseline. Prints markdown. See docs/gateway.md.",
    )
    gateway.add_argument(
        "--devices", type=_POSITIVE_INT, default=50, help="devices for live and drain"
    )
    gateway.add_argument(
        "--frames-per-device",
        type=in_range(float, 0, low_open=True),
        default=2.0,
        help="live frames/s per device (2 = 100 Hz)",
    )
    gateway.add_argument(
        "--burst", type=_POSITIVE_INT, default=60_000, help="frames in the throughput burst"
    )
    gateway.add_argument("--outage", type=_POSITIVE_S, default=20.0, help="cloud outage, s (drain)")
    gateway.add_argument("--cpu", type=int, help="CPU for the gateway (default: the last)")
    gateway.add_argument("--repeats", type=_POSITIVE_INT, default=3, help="runs per path (medians)")
    gateway.add_argument(
        "--profile", type=Path, help="py-spy record (collapsed stacks) of the burst"
    )
    gateway.add_argument(
        "--batch-frames", type=_POSITIVE_INT, default=50,
        help="frames per batch of the batched runs (the unbatched runs use 1)",
    )  # fmt: skip
    gateway.add_argument("--json", action="store_true", help="print JSON instead")
    gateway.set_defaults(func=_gateway)

    ingest = which.add_parser(
        "ingest",
        help="ingest throughput vs raw InfluxDB writes, latency at half load, RSS",
        description="A local stack in a temp dir; the raw limit (pre-built imu line protocol, "
        "1 and N concurrent writers) and `gaitlink ingest run` (gait on) draining a backlog "
        "from the cloud broker into the same InfluxDB, clean and with bad frames; latency "
        "broker -> InfluxDB at half the measured rate. Prints markdown. See "
        "docs/benchmarks.md.",
    )
    ingest.add_argument(
        "--samples", type=_POSITIVE_INT, default=500_000, help="samples in the backlog"
    )
    ingest.add_argument("--devices", type=_POSITIVE_INT, default=20)
    ingest.add_argument(
        "--writers", type=_POSITIVE_INT, default=4, help="raw-limit concurrent writers"
    )
    ingest.add_argument(
        "--bad-fraction", type=in_range(float, 0, 0.5), default=0.01, help="corrupt frames (0.01)"
    )
    ingest.add_argument("--latency-s", type=_POSITIVE_S, default=10.0, help="live phase, s (10)")
    ingest.add_argument(
        "--repeats", type=_POSITIVE_INT, default=3, help="interleaved runs (medians, 3)"
    )
    ingest.add_argument("--profile", type=Path, help="py-spy record (raw) of the clean run")
    ingest.add_argument("--json", action="store_true", help="print JSON instead")
    ingest.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from gaitlink.tools.bench import ingest

    spec = ingest.Spec(
        samples=args.samples,
        devices=args.devices,
        writers=args.writers,
        bad_fraction=args.bad_fraction,
        latency_s=args.latency_s,
        repeats=args.repeats,
        profile=args.profile,
    )
    try:
        return ingest.main(spec, args.json)
    except RuntimeError as exc:
        print(f"gaitlink bench ingest: {exc}", file=sys.stderr)
        return 1


def _research(args: argparse.Namespace) -> int:
    from gaitlink.tools.bench import research

    result = research.run(seconds=args.seconds, repeats=args.repeats)
    print(json.dumps(result, indent=2) if args.json else research.to_markdown(result), end="\n")
    return 0


def _accuracy(args: argparse.Namespace) -> int:
    from gaitlink.tools.bench import accuracy

    data_dir = args.data or accuracy.default_data_dir()
    missing = [
        name
        for name in ("imu_sample.csv", "stride_events_sample.csv", "imu_sample_ms_left.csv",
                     "imu_sample_ms_right.csv")
        if not (data_dir / name).is_file()
    ]  # fmt: skip
    if missing:
        print(
            f"gaitlink bench: {data_dir} lacks {', '.join(missing)}; pass --data DIR",
            file=sys.stderr,
        )
        return 2
    from gaitlink.tools.bench import realdata

    lowback_dir = args.lowback_data or realdata.default_lowback_dir()
    if not any(lowback_dir.glob("*_imu.csv")):
        print(
            f"gaitlink bench: {lowback_dir} holds no <trial>_imu.csv; pass --lowback-data DIR",
            file=sys.stderr,
        )
        return 2
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("gaitlink bench: --plot needs matplotlib: pip install 'gaitlink[plot]'",
                  file=sys.stderr)  # fmt: skip
            return 2
    result = accuracy.run(data_dir, quick=args.quick, lowback_dir=lowback_dir, plot_dir=args.plot)
    if args.json:
        print(json.dumps(accuracy.to_json(result), indent=2))
    else:
        print(accuracy.to_markdown(result), end="")
    return 0


def _speed(args: argparse.Namespace) -> int:
    from gaitlink.tools.bench import speed

    try:
        result = speed.run(
            quick=args.quick,
            repeats=args.repeats,
            with_peers=args.with_peers,
            peer_venv=args.peer_venv,
            baseline=args.baseline,
        )
    except speed.BaselineError as e:
        print(f"gaitlink bench: {e}; give a commit, branch or tag of this checkout",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(speed.to_markdown(result), end="")
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from gaitlink.tools.bench import gateway

    spec = gateway.Spec(
        devices=args.devices,
        frames_per_device_s=args.frames_per_device,
        burst=args.burst,
        outage_s=args.outage,
        cpu=args.cpu,
        profile=args.profile,
        repeats=args.repeats,
        batch_frames=args.batch_frames,
    )
    try:
        return gateway.main(spec, args.json)
    except RuntimeError as exc:
        print(f"gaitlink bench gateway: {exc}", file=sys.stderr)
        return 1


def _firmware(args: argparse.Namespace) -> int:
    from gaitlink.tools.bench import firmware

    try:
        rates = [int(r) for r in args.rates.split(",")]
    except ValueError:
        rates = []
    if not rates or any(not 4 <= r <= 1000 or 1000 % r for r in rates):
        print("gaitlink bench: --rates must be divisors of 1000 in [4, 1000], e.g. 100,200,500",
              file=sys.stderr)  # fmt: skip
        return 2
    results = firmware.run(
        rates, args.seconds, warp=args.warp, link_drops=args.link_drops,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )  # fmt: skip
    rows = firmware.to_json(results, args.esp32_factor or firmware.ESP32_FACTOR)
    print(json.dumps(rows, indent=2) if args.json else firmware.to_markdown(rows), end="\n")
    return 0 if all(r["ok"] for r in rows) else 1
