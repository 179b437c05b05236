"""`gaitlink demo`: the whole path, firmware to InfluxDB, on this machine.

It starts the local stack (left running afterwards), the ingest and the gateway, and N
simulated devices, each running the real firmware in the MicroPython unix port against
the sensor simulator. When the devices have sent their bounded run, it checks what reached
InfluxDB and prints it per device, with the InfluxQL to see it yourself.

The end-to-end test calls `run` too, so the demo and the test prove the same path.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from gaitlink.tools.argtypes import in_range


@dataclass(frozen=True, slots=True)
class DeviceReport:
    device_id: str
    samples_sent: int
    frames_sent: int
    points_in_influx: int
    first_us: int | None
    last_us: int | None
    dropped_on_device: int
    cycles: int = 0
    valid_cycles: int = 0

    @property
    def complete(self) -> bool:
        return self.points_in_influx == self.samples_sent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run simulated devices through gateway and ingest into InfluxDB"
    )
    parser.add_argument(
        "--devices", type=in_range(int, 1, 50), default=3, help="how many (default 3)"
    )
    parser.add_argument(
        "--seconds",
        type=in_range(float, 1, 3600, unit="s"),
        default=60.0,
        help="data time per device (default 60)",
    )
    parser.add_argument("--rate", type=int, default=100, choices=(50, 100, 200), help="Hz")
    parser.add_argument("--state-dir", default=None, help="stack state (default .gaitlink/)")
    parser.set_defaults(func=_main)


def run(
    stack,
    state_dir: Path,
    *,
    devices: int,
    seconds: float,
    rate_hz: int = 100,
    prefix: str = "demo",
    settle_s: float = 30.0,
    progress=print,
    dashboard=None,
) -> list[DeviceReport]:
    """Run `devices` simulated devices through gateway and ingest; report what arrived.

    `dashboard(url, state_dir)`, when given, is called once the ingest serves the live view.
    """
    import time

    from gaitlink.tools import device, services
    from gaitlink.tools.stack import free_port, influx_query

    http_port = free_port()
    samples = round(seconds * rate_hz)
    ids = [f"{prefix}-{i + 1:02d}" for i in range(devices)]
    # The ingest knows devices from the registry only, as in production.
    _provision(state_dir, ids)
    ingest = services.ingest(stack, state_dir, http_port=http_port, accept_unprovisioned=None)
    gateway = services.gateway(stack, state_dir)
    started = []
    try:
        for service in (ingest, gateway):
            service.start()
            started.append(service)
        if dashboard is not None:
            dashboard(f"http://127.0.0.1:{http_port}/ui/", state_dir)
        progress(
            f"ingest and gateway up; starting {devices} device(s), {seconds:g} s at {rate_hz} Hz"
        )
        runs = [
            device.start_device(
                device_id,
                stack.host,
                stack.site_port,
                seed=i + 1,
                rate_hz=rate_hz,
                max_samples=samples,
                state_dir=state_dir / "devices",
                # Each device logs in with an account of its own (docs/security.md).
                extra=stack.add_device(device_id).device_fields(),
            )
            for i, device_id in enumerate(ids)
        ]
        summaries = [run.wait(timeout=seconds + 120) for run in runs]
        progress("devices done; waiting for the last frames to reach InfluxDB")

        def counts() -> list[DeviceReport]:
            reports = []
            for device_id, summary in zip(ids, summaries, strict=True):
                # From the device: skipped slots and clock corrections make
                # first + (n - 1) * period wrong.
                first, last = summary["first_t0_us"], summary["last_sample_us"]
                rows = influx_query(
                    stack,
                    f"SELECT count(ax) FROM imu WHERE device = '{device_id}' "
                    f"AND time >= {first}u AND time <= {last}u",
                )
                reports.append(
                    DeviceReport(
                        device_id=device_id,
                        samples_sent=summary["samples"],
                        frames_sent=summary["frames"],
                        points_in_influx=int(rows[0]["count"]) if rows else 0,
                        first_us=first,
                        last_us=last,
                        dropped_on_device=summary["dropped"],
                    )
                )
            return reports

        deadline = time.monotonic() + settle_s
        reports = counts()
        while not all(r.complete for r in reports) and time.monotonic() < deadline:
            time.sleep(0.5)
            reports = counts()
        _record_sessions(stack, state_dir, reports, rate_hz)
        return [_with_cycles(stack, r) for r in reports]
    finally:
        for service in reversed(started):
            service.stop()


def _provision(state_dir: Path, ids: list[str]) -> None:
    """Each simulated device in the registry, worn on the left foot (a rerun keeps them)."""
    from gaitlink.cloud.registry.db import FILENAME, open_registry
    from gaitlink.cloud.registry.devices import DeviceStore

    conn = open_registry(state_dir / FILENAME)
    try:
        store = DeviceStore(conn)
        known = {d.id for d in store.list()}
        for device_id in ids:
            if device_id not in known:
                store.provision(device_id, "foot", "left")
    finally:
        conn.close()


def subject_of(device_id: str) -> str:
    """The subject wearing a simulated device: demo-02 is DEMO_AB02, e2e-01 is E2E_AB01."""
    prefix, _, number = device_id.rpartition("-")
    dataset = "".join(ch for ch in prefix.upper() if ch.isalnum())[:10]
    return f"{dataset}_AB{number[-2:]}"


def _record_sessions(stack, state_dir: Path, reports: list[DeviceReport], rate_hz: int) -> None:
    # Each simulated device walked on level ground, worn on the left foot (as provisioned):
    # a recording session per device in the registry and InfluxDB, so
    # the research API and `gaitlink export/plot` find the demo's data by subject and task.
    from gaitlink.cloud.influx.sync import InfluxV1Sync
    from gaitlink.cloud.registry.db import FILENAME, open_registry
    from gaitlink.cloud.registry.sessions import SessionStore

    store = SessionStore(open_registry(state_dir / FILENAME))
    lines = []
    for r in reports:
        if r.first_us is None or r.last_us is None:
            continue
        if (previous := store.open_for(r.device_id)) is not None:
            store.stop(previous.id, end_us=max(previous.start_us + 1, r.first_us))
        session = store.start(
            subject=subject_of(r.device_id),
            task="level_walking",
            device=r.device_id,
            placement="foot",
            side="left",
            start_us=r.first_us,
        )
        lines.append(store.stop(session.id, end_us=r.last_us + 1_000_000 // rate_hz).line())
    if lines:
        InfluxV1Sync(stack.influx_settings()).write("\n".join(lines))


def _with_cycles(stack, report: DeviceReport) -> DeviceReport:
    from dataclasses import replace

    from gaitlink.tools.stack import influx_query

    window = (
        f"device = '{report.device_id}' AND time >= {report.first_us}u "
        f"AND time <= {report.last_us}u"
    )

    def cycles(condition: str = "") -> int:
        q = f"SELECT count(duration_s) FROM gait_cycle WHERE {window}{condition}"
        rows = influx_query(stack, q)
        return int(rows[0]["count"]) if rows else 0

    return replace(report, cycles=cycles(), valid_cycles=cycles(" AND valid = true"))


def _print_dashboard(url: str, state_dir: Path) -> None:
    # A researcher key made for this demo, shown once and only on a terminal: never in an
    # argv or a log file (stdout sent to a file gets the command to make one instead).
    import sys

    from gaitlink.cloud.api.keystore import KeyFile
    from gaitlink.tools.services import api_keys_file

    print(f"live view while the devices stream: {url}", flush=True)
    if not sys.stdout.isatty():
        print(
            f"  log in with a researcher key: gaitlink apikey --keys {api_keys_file(state_dir)} "
            "create --role researcher --name dashboard",
            flush=True,
        )
        return
    key = KeyFile(api_keys_file(state_dir)).create("demo dashboard", "researcher")
    print(f"  log in with this researcher key (shown once): {key}", flush=True)


def _main(args: argparse.Namespace) -> int:
    import sys

    from gaitlink.tools.device import DeviceError
    from gaitlink.tools.services import ServiceError
    from gaitlink.tools.stack import Stack, StackError

    stack = Stack(args.state_dir)
    print(f"starting the local stack in {stack.state_dir} …", flush=True)
    try:
        stack.up()
        reports = run(
            stack,
            stack.state_dir,
            devices=args.devices,
            seconds=args.seconds,
            rate_hz=args.rate,
            progress=lambda text: print(text, flush=True),
            dashboard=_print_dashboard,
        )
    except (StackError, ServiceError, DeviceError) as exc:
        print(f"gaitlink demo: {exc}", file=sys.stderr)
        return 2
    print()
    print(
        f"{'device':<10} {'samples':>8} {'in InfluxDB':>12} {'frames':>7} {'dropped':>8} "
        f"{'gait cycles':>12}  status"
    )
    for r in reports:
        status = "complete" if r.complete else f"MISSING {r.samples_sent - r.points_in_influx}"
        cycles = f"{r.valid_cycles}/{r.cycles} valid"
        print(
            f"{r.device_id:<10} {r.samples_sent:>8} {r.points_in_influx:>12} "
            f"{r.frames_sent:>7} {r.dropped_on_device:>8} {cycles:>12}  {status}"
        )
    first = min((r.first_us for r in reports if r.first_us is not None), default=0)
    print()
    reader = stack.account("influx_reader")
    print("See it yourself (InfluxQL, as the read-only user; the password stays in its file):")
    print(
        f"  export INFLUX_USERNAME={reader.username} "
        f'INFLUX_PASSWORD="$(cat {reader.password_file})"'
    )
    print(
        f"  influx -port {stack.influx_port} -database {stack.database} -execute "
        f'"SELECT count(ax) FROM imu WHERE time >= {first}u GROUP BY device"'
    )
    print(
        f"  influx -port {stack.influx_port} -database {stack.database} -execute "
        f'"SELECT duration_s, cadence, stance_pct, valid FROM gait_cycle '
        f"WHERE device='{reports[0].device_id}' AND time >= {first}u\""
    )
    print(
        '  printf \'user = "%s:%s"\\n\' "$INFLUX_USERNAME" "$INFLUX_PASSWORD" | '
        f"curl -K - -G {stack.influx_url}/query --data-urlencode 'db={stack.database}' "
        f"--data-urlencode \"q=SELECT * FROM imu WHERE device='{reports[0].device_id}' LIMIT 5\""
    )
    print()
    print(f"The stack is still running (state in {stack.state_dir}).")
    print(f"Stop it with:  .venv/bin/gaitlink stack down --state-dir {stack.state_dir}")
    return 0 if all(r.complete for r in reports) else 1
