"""`gaitlink session start|stop|list|sync`: recording sessions from the command line.

A session says who (subject) wore which device where (placement, side), doing what (task),
from when to when. It goes to the registry (SQLite, in the state dir) and to InfluxDB's
`session` measurement, which the research API reads.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# At import: without the 'cloud' extra, `gaitlink session` says which extra to install.
from gaitlink.cloud.influx.options import add_influx_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("session", help="start, stop and list recording sessions")
    sub = parser.add_subparsers(dest="session_command", required=True)

    start = sub.add_parser("start", help="a subject starts wearing a device for a task")
    start.add_argument("--subject", required=True, help="LocoHub subject id, e.g. LAB1_AB01")
    start.add_argument("--task", required=True, help="LocoHub task (level_walking, …) or own")
    start.add_argument("--task-id", default=None, help="task variant (default: the task)")
    start.add_argument("--task-info", default="", help="key:value,… e.g. speed_m_s:1.2")
    start.add_argument("--device", required=True, help="device id")
    start.add_argument("--placement", required=True, choices=("foot", "shank", "lower_back"))
    start.add_argument("--side", default="", choices=("", "left", "right"), help="foot/shank")
    start.add_argument("--at", default="now", help="start time, ISO 8601 with zone (now)")
    start.set_defaults(func=_start)

    stop = sub.add_parser("stop", help="close a session")
    stop.add_argument("id", type=int, help="session id (from start or list)")
    stop.add_argument("--at", default="now", help="end time, ISO 8601 with zone (now)")
    stop.set_defaults(func=_stop)

    listing = sub.add_parser("list", help="list sessions")
    listing.add_argument("--subject", default=None)
    listing.add_argument("--task", default=None)
    listing.add_argument("--open", action="store_true", help="only sessions not stopped")
    listing.set_defaults(func=_list)

    sync = sub.add_parser("sync", help="write every session to InfluxDB again (idempotent)")
    sync.set_defaults(func=_sync)

    for p in (start, stop, listing, sync):
        p.add_argument(
            "--registry",
            default=None,
            help="registry database (default STATE_DIR/registry.sqlite3; $GAITLINK_STATE_DIR)",
        )
    for p in (start, stop, sync):
        add_influx_arguments(p)


class _Refused(Exception):
    pass


_US = timedelta(microseconds=1)


def parse_time_us(text: str) -> int:
    """`now` or an ISO 8601 time with its zone, as epoch µs."""
    if text == "now":
        return _now_us()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(
            f"time {text!r} is not ISO 8601 (2026-05-01T10:00:00+02:00) or 'now'"
        ) from None
    if when.tzinfo is None:
        raise _Refused(f"time {text!r} has no zone: add one (Z or +02:00)")
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // _US


def _now_us() -> int:
    import time

    return time.time_ns() // 1000


def _iso(us: int | None) -> str:
    if us is None:
        return "open"
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


def _store(args):
    from gaitlink.cloud.registry.db import FILENAME, open_registry
    from gaitlink.cloud.registry.sessions import SessionStore
    from gaitlink.tools.stack.state import default_state_dir

    path = Path(args.registry) if args.registry else default_state_dir() / FILENAME
    return SessionStore(open_registry(path))


def _publish(args, sessions) -> None:
    from gaitlink.cloud.influx.client import InfluxError
    from gaitlink.cloud.influx.options import influx_settings
    from gaitlink.cloud.influx.sync import InfluxV1Sync

    try:
        client = InfluxV1Sync(influx_settings(args, timeout_s=10.0))
        if sessions:
            client.write("\n".join(s.line() for s in sessions))
    except (InfluxError, ValueError) as exc:
        raise _Refused(
            f"recorded in the registry, but not in InfluxDB ({exc}); once it is reachable, "
            "`gaitlink session sync` writes it"
        ) from None


def _run(func, args) -> int:
    from gaitlink.cloud.registry.db import RegistryError
    from gaitlink.cloud.registry.sessions import SessionError

    try:
        return func(args)
    except (_Refused, SessionError, RegistryError) as exc:
        print(f"gaitlink session {args.session_command}: {exc}", file=sys.stderr)
        return 2


def _start(args) -> int:
    def go(args) -> int:
        session = _store(args).start(
            subject=args.subject,
            task=args.task,
            task_id=args.task_id,
            task_info=args.task_info,
            device=args.device,
            placement=args.placement,
            side=args.side,
            start_us=parse_time_us(args.at),
        )
        print(f"session {session.id} started: {_describe(session)}", flush=True)
        _publish(args, [session])
        return 0

    return _run(go, args)


def _stop(args) -> int:
    def go(args) -> int:
        session = _store(args).stop(args.id, end_us=parse_time_us(args.at))
        print(f"session {session.id} stopped: {_describe(session)}", flush=True)
        _publish(args, [session])
        return 0

    return _run(go, args)


def _list(args) -> int:
    def go(args) -> int:
        sessions = _store(args).list(subject=args.subject, task=args.task, open_only=args.open)
        print(f"{'id':>4}  {'subject':<14} {'task':<16} {'device':<12} {'where':<16} start → end")
        for s in sessions:
            print(
                f"{s.id:>4}  {s.subject:<14} {s.task:<16} {s.device:<12} "
                f"{(s.placement + ' ' + s.side).strip():<16} {_iso(s.start_us)} → {_iso(s.end_us)}"
            )
        return 0

    return _run(go, args)


def _sync(args) -> int:
    def go(args) -> int:
        sessions = _store(args).list()
        _publish(args, sessions)
        print(f"{len(sessions)} session(s) written to InfluxDB")
        return 0

    return _run(go, args)


def _describe(s) -> str:
    where = f"{s.placement} {s.side}".strip()
    return f"{s.subject} {s.task} on {s.device} ({where}), {_iso(s.start_us)} → {_iso(s.end_us)}"
