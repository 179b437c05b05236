"""`gaitlink ingest run`: the cloud ingest service."""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

from gaitlink.cloud.aot import add_build_parser
from gaitlink.cloud.influx.options import add_influx_arguments
from gaitlink.secrets import add_login_options

_MQTT_ENV = "GAITLINK_INGEST_MQTT"
# IngestSettings.writes_in_flight's bound, checked here too so the CLI names the flag.
_MAX_WRITES_IN_FLIGHT = 64


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ingest", help="run the cloud ingest service")
    sub = parser.add_subparsers(dest="ingest_command", required=True)
    run = sub.add_parser("run", help="consume the cloud broker and write to InfluxDB")
    # Defaults: the env that `gaitlink stack up` prints, else the standard ports.
    run.add_argument(
        "--mqtt",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_URL", "127.0.0.1:1883"),
        help="cloud broker, host:port (default $GAITLINK_CLOUD_MQTT_URL or 127.0.0.1:1883)",
    )
    add_login_options(run, "mqtt", _MQTT_ENV, "cloud broker")
    run.add_argument(
        "--mqtt-ca",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_CA"),
        help="CA certificate that signed the cloud broker's (turns TLS on; default "
        "$GAITLINK_CLOUD_MQTT_CA; with mqtts:// and no CA, the system's CAs)",
    )
    run.add_argument("--client-id", default="gaitlink-ingest", help="MQTT session name")
    add_influx_arguments(run)
    run.add_argument(
        "--http",
        default="127.0.0.1:8080",
        help="address of the HTTP API, host:port or host (port 8080); default 127.0.0.1:8080",
    )
    run.add_argument(
        "--dead-letters",
        default=".gaitlink/dead-letters",
        help="dead-letter store directory (see `gaitlink deadletter`)",
    )
    run.add_argument(
        "--max-future-s",
        type=float,
        default=300.0,
        help="data ending further ahead of this machine's clock is a dead letter (default 300)",
    )
    run.add_argument(
        "--not-before",
        default="2020-01-01",
        help="data from before this date (UTC), or before a device's provisioning date, is "
        "a dead letter (default 2020-01-01)",
    )
    run.add_argument(
        "--seq-horizon-s",
        type=float,
        default=600.0,
        help="a frame seq further ahead than this much of the device's time does not move "
        "its dedup window; it is written and reported as a seq_jump (default 600)",
    )
    run.add_argument(
        "--writes-in-flight",
        type=_writes_in_flight,
        default=4,
        help="batches written to InfluxDB at once while the next is transformed, 1-64 "
        "(default 4); the cloud broker must let that many batches be unacked "
        "(mosquitto max_inflight_messages, docs/ingest.md)",
    )
    run.add_argument(
        "--registry",
        default=os.environ.get("GAITLINK_REGISTRY"),
        help="registry database: devices and recording sessions (default $GAITLINK_REGISTRY, "
        "else STATE_DIR/registry.sqlite3, where `gaitlink device provision` writes)",
    )
    run.add_argument(
        "--firmware-dir",
        default=os.environ.get("GAITLINK_FIRMWARE_DIR", ".gaitlink/firmware"),
        help="firmware releases served at /firmware/ (default $GAITLINK_FIRMWARE_DIR or "
        ".gaitlink/firmware)",
    )
    run.add_argument(
        "--api-keys",
        default=os.environ.get("GAITLINK_API_KEYS", ".gaitlink/api-keys.json"),
        help="API key hashes made by `gaitlink apikey` (default $GAITLINK_API_KEYS or "
        ".gaitlink/api-keys.json)",
    )
    run.add_argument("--tls-cert", default=None, help="serve HTTPS: certificate chain (PEM)")
    run.add_argument("--tls-key", default=None, help="serve HTTPS: private key (PEM, mode 0600)")
    run.add_argument(
        "--metrics-need-key", action="store_true", help="serve /metrics to admin keys only"
    )
    run.add_argument(
        "--stream-queue",
        type=int,
        default=256,
        help="messages held per WebSocket client before the oldest are dropped",
    )
    run.add_argument(
        "--stream-heartbeat-s",
        type=float,
        default=30.0,
        help="WebSocket ping interval, s; a client that answers none for 1.5 of them is closed",
    )
    run.add_argument(
        "--accept-unprovisioned",
        metavar="PLACEMENT",
        default=None,
        choices=("foot", "shank", "lower_back"),
        help="take data from devices the registry lacks as worn at PLACEMENT (test rigs); "
        "by default it is a dead letter `unprovisioned`",
    )
    # Gone: the registry is the one list of devices. Kept only to say what to do instead.
    run.add_argument("--devices", default=None, help=argparse.SUPPRESS)
    run.set_defaults(func=_run)
    add_build_parser(
        sub, "ingest", "gaitlink.cloud.ingest._compiled",
        help="compile the ingest's line encoder ahead of time (tools/setup.sh runs it)",
        description="Compile the ingest's numba line encoder into a C extension beside its "
        "source (about 2x faster than the Python encoder for a 50-sample frame, 28 -> 14 us, "
        "docs/benchmarks.md; numba is never loaded). Does nothing when a build of the "
        "current source is there.",
    )  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from aiohttp import web
    from pydantic import ValidationError

    from gaitlink.cloud.api.keystore import KeyFileError
    from gaitlink.cloud.api.tls import server_context
    from gaitlink.cloud.ingest.app import create_app
    from gaitlink.mqtt.link import LinkError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s ingest %(levelname)s %(message)s")
    args.registry = _registry(args)
    if args.devices is not None:
        print(
            f"gaitlink ingest: --devices is gone, the registry lists the devices: import the "
            f"file once with `gaitlink device import {args.devices} --registry {args.registry}`",
            file=sys.stderr,
        )
        return 2
    try:
        settings = settings_from(args)
        ssl_context = server_context(settings.tls_cert, settings.tls_key)
    except ValidationError as exc:
        # Not str(exc): pydantic quotes the input, which may be a secret.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        print(f"gaitlink ingest: {problems}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"gaitlink ingest: {exc}", file=sys.stderr)
        return 2
    try:
        web.run_app(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            ssl_context=ssl_context,
            print=lambda text: print(text, flush=True),
        )
    except (LinkError, OSError, KeyFileError) as exc:
        # The broker or the HTTP port is not there: one line, not a traceback.
        print(f"gaitlink ingest: {exc}", file=sys.stderr)
        return 2
    return 0


def settings_from(args: argparse.Namespace):
    """The service's settings from the parsed options; ValueError (pydantic's
    ValidationError is one) naming what is wrong."""
    from pathlib import Path

    from gaitlink.cloud.influx.options import influx_settings
    from gaitlink.cloud.ingest.devices import DeviceProfile
    from gaitlink.cloud.ingest.settings import IngestSettings
    from gaitlink.mqtt.endpoint import Endpoint
    from gaitlink.secrets import login_from

    mqtt = (
        Endpoint.parse(args.mqtt, what="--mqtt")
        .with_login(*login_from(args, "mqtt", _MQTT_ENV, "cloud broker"))
        .with_ca(args.mqtt_ca)
    )
    http_host, http_port = http_address(args.http)
    influx = influx_settings(args)
    return IngestSettings(
        mqtt_host=mqtt.host,
        mqtt_port=mqtt.port,
        mqtt_username=mqtt.username,
        mqtt_password=mqtt.password,
        mqtt_tls=mqtt.tls,
        mqtt_ca_file=mqtt.ca_file,
        client_id=args.client_id,
        influx_url=influx.url,
        influx_database=influx.database,
        influx_username=influx.username,
        influx_password=influx.password,
        influx_token=influx.token,
        http_host=http_host,
        http_port=http_port,
        dead_letter_path=Path(args.dead_letters),
        max_future_s=args.max_future_s,
        not_before=_utc_date(args.not_before),
        seq_horizon_s=args.seq_horizon_s,
        writes_in_flight=args.writes_in_flight,
        accept_unprovisioned=(
            DeviceProfile(placement=args.accept_unprovisioned)
            if args.accept_unprovisioned
            else None
        ),
        api_keys_file=Path(args.api_keys),
        registry_path=Path(_registry(args)),
        firmware_dir=Path(args.firmware_dir),
        metrics_require_key=args.metrics_need_key,
        stream_queue_max=args.stream_queue,
        stream_heartbeat_s=args.stream_heartbeat_s,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
    )


def _registry(args: argparse.Namespace) -> str:
    if args.registry is not None:
        return args.registry
    from gaitlink.cloud.registry.db import FILENAME
    from gaitlink.tools.stack.state import default_state_dir

    return str(default_state_dir() / FILENAME)


def http_address(text: str) -> tuple[str, int]:
    """`host:port`, `host` (port 8080) or `http://host:port` -> (host, port); ValueError."""
    raw = text if "://" in text else f"http://{text}"
    parts = urlsplit(raw)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"--http address {text!r}: expected host:port, e.g. 127.0.0.1:8080")
    if parts.username or parts.password:
        raise ValueError(f"--http address {text!r}: the listen address takes no user or password")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"--http address {text!r}: port must be 0-65535") from None
    return parts.hostname, 8080 if port is None else port


def _writes_in_flight(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= _MAX_WRITES_IN_FLIGHT:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a whole number of batches from 1 to {_MAX_WRITES_IN_FLIGHT}"
        )
    return value


def _utc_date(text: str):
    from datetime import UTC, datetime

    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"--not-before {text!r}: expected a date like 2020-01-01") from None
