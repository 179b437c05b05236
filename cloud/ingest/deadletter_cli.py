"""`gaitlink deadletter list|show|replay`: look into the ingest's dead-letter store, and
re-feed records through the real pipeline once their cause is fixed.

Replay publishes each record's payload again on its original topic to the cloud broker,
so it takes the path every message takes: the running ingest decodes, validates and
de-duplicates it (a frame already written is dropped as a duplicate) and writes it, or
dead-letters it again with its reason. A replayed record is marked in the store's
replay log, and `replay` skips marked records unless told `--again`.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from gaitlink.secrets import add_login_options

_DEFAULT_STORE = ".gaitlink/dead-letters"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deadletter", help="list, show and replay the ingest's dead letters"
    )
    sub = parser.add_subparsers(dest="deadletter_command", required=True)
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        default=os.environ.get("GAITLINK_DEAD_LETTERS", _DEFAULT_STORE),
        help="the ingest's --dead-letters directory (default $GAITLINK_DEAD_LETTERS or "
        f"{_DEFAULT_STORE})",
    )
    select = argparse.ArgumentParser(add_help=False)
    select.add_argument("--reason", help="only records with this reason, e.g. bad_crc")
    select.add_argument("--device", help="only records of this device id")

    listing = sub.add_parser("list", parents=[store, select], help="one line per record")
    listing.set_defaults(func=_guarded(_list))
    show = sub.add_parser("show", parents=[store], help="one record in full")
    show.add_argument("id", help="record id, as `list` prints it")
    show.set_defaults(func=_guarded(_show))
    replay = sub.add_parser(
        "replay", parents=[store, select], help="publish records again to the cloud broker"
    )
    replay.add_argument(
        "--mqtt",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_URL", "127.0.0.1:1883"),
        help="cloud broker, host:port (default $GAITLINK_CLOUD_MQTT_URL or 127.0.0.1:1883)",
    )
    add_login_options(replay, "mqtt", "GAITLINK_OPERATOR_MQTT", "cloud broker")
    replay.add_argument(
        "--mqtt-ca",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_CA"),
        help="CA certificate that signed the cloud broker's (turns TLS on; default "
        "$GAITLINK_CLOUD_MQTT_CA)",
    )
    replay.add_argument("--again", action="store_true", help="include records replayed before")
    replay.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for acks")
    replay.set_defaults(func=_guarded(_replay))


def _open(args: argparse.Namespace):
    from pathlib import Path

    from gaitlink.cloud.ingest.deadletter import DeadLetterStore

    path = Path(args.store)
    if not path.is_dir():
        raise _Usage(
            f"no dead-letter store at {path}; pass the ingest's --dead-letters with --store"
        )
    return DeadLetterStore(path)


class _Usage(Exception):
    pass


def _list(args: argparse.Namespace) -> int:
    records = _open(args).read(reason=args.reason, device=args.device)
    for r in records:
        when = datetime.fromtimestamp(r["time_us"] / 1e6, UTC).isoformat(timespec="seconds")
        mark = " replayed" if r["replayed"] else ""
        detail = r["detail"] if len(r["detail"]) <= 80 else r["detail"][:77] + "..."
        device = r["device"] or "-"
        print(f"{r['id']}  {when}  {device}  {r['reason']}  {r['length']} B{mark}  {detail}")
    print(f"{len(records)} record(s)", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    import json

    from gaitlink.cloud.ingest.deadletter import payload_of

    record = _open(args).get(args.id)
    if record is None:
        raise _Usage(f"no record {args.id!r}; `gaitlink deadletter list` shows the ids")
    payload = payload_of(record)
    shown = {k: v for k, v in record.items() if k != "payload_b64"}
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    print(f"payload, first {min(64, len(payload))} of {record['length']} bytes:")
    print(payload[:64].hex(" "))
    if str(record.get("topic", "")).endswith("/imu"):
        _show_frame(payload)
    return 0


def _show_frame(payload: bytes) -> None:
    """The header of a frame that decodes (a time or device refusal, say), quality bits by
    name: what an operator checks before a replay."""
    from datetime import UTC, datetime

    from gaitlink.cloud.protocol.frame import FrameError, decode, quality_names

    try:
        frame = decode(payload)
    except FrameError as exc:
        print(f"not a frame that decodes: {exc}")
        return
    t0 = datetime.fromtimestamp(frame.t0_us / 1e6, UTC).isoformat(timespec="milliseconds")
    names = "|".join(quality_names(frame.quality)) or "none"
    print(f"frame: boot {frame.boot_id} seq {frame.seq} t0 {t0}, {frame.n_samples} samples "
          f"at {1e6 / frame.period_us:g} Hz, quality {names}")  # fmt: skip


def _replay(args: argparse.Namespace) -> int:
    import threading

    from gaitlink.cloud.ingest.deadletter import payload_of
    from gaitlink.mqtt.endpoint import Endpoint
    from gaitlink.mqtt.link import Link, LinkError
    from gaitlink.secrets import login_from

    store = _open(args)
    records = [
        r
        for r in store.read(reason=args.reason, device=args.device)
        if args.again or not r["replayed"]
    ]
    truncated = [r for r in records if r["truncated"]]
    records = [r for r in records if not r["truncated"]]
    if truncated:
        print(f"skipping {len(truncated)} record(s) whose payload was cut at the store's cap",
              file=sys.stderr)  # fmt: skip
    if not records:
        print("nothing to replay")
        return 0
    try:
        endpoint = (
            Endpoint.parse(args.mqtt, what="--mqtt")
            .with_login(*login_from(args, "mqtt", "GAITLINK_OPERATOR_MQTT", "cloud broker"))
            .with_ca(args.mqtt_ca)
        )
    except ValueError as exc:  # also an exposed or missing password file
        raise _Usage(str(exc)) from None
    acked: list[str] = []
    lock = threading.Lock()
    all_acked = threading.Event()

    def on_acked(record_id: str) -> None:
        with lock:
            acked.append(record_id)
            if len(acked) == len(records):
                all_acked.set()

    link = Link(endpoint, f"gaitlink-replay-{os.getpid()}", clean_session=True)
    try:
        link.start()
    except LinkError as exc:
        raise _Usage(str(exc)) from None
    try:
        for r in records:
            link.publish(r["topic"], payload_of(r), qos=1,
                         on_acked=lambda i=r["id"]: on_acked(i))  # fmt: skip
        all_acked.wait(args.timeout)
    finally:
        link.stop()
        with lock:
            done = list(acked)
        store.mark_replayed(done)
    print(f"replayed {len(done)} of {len(records)} record(s) to {endpoint}")
    if len(done) < len(records):
        print(f"gaitlink deadletter: {len(records) - len(done)} not acknowledged by the broker "
              f"within {args.timeout:g} s; run replay again", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _guarded(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (_Usage, OSError) as exc:
            print(f"gaitlink deadletter: {exc}", file=sys.stderr)
            return 2

    return run
