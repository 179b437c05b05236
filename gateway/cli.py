"""`gaitlink gateway run|install`: the relay as a Raspberry Pi owner starts and installs it.

Settings come from /etc/gaitlink/gateway.toml, the environment and these flags, in that
order of increasing precedence (gateway/config.py). No flag takes a secret.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gateway", help="run or install the site-to-cloud relay")
    sub = parser.add_subparsers(dest="gateway_command", required=True)
    run = sub.add_parser(
        "run",
        help="relay the site broker to the cloud broker through the disk spool",
        description="Settings: --config FILE (default $GAITLINK_GATEWAY_CONFIG, else "
        "/etc/gaitlink/gateway.toml if present), then GAITLINK_GATEWAY_* variables, then "
        "these flags. Passwords only from a file or the environment (docs/gateway.md).",
    )
    run.add_argument("--config", type=Path, help="TOML settings file")
    run.add_argument("--site", help="site broker, host:port (default $GAITLINK_SITE_MQTT_URL)")
    run.add_argument("--cloud", help="cloud broker, host:port (default $GAITLINK_CLOUD_MQTT_URL)")
    run.add_argument("--id", help="gateway id (names its MQTT sessions and status topic)")
    run.add_argument("--spool-dir", type=Path, help="directory of the spool database")
    run.add_argument("--spool-max-bytes", help="spool byte bound, e.g. 2GiB")
    run.add_argument(
        "--batch-frames", type=int, help="frames of a device per cloud message (1: no batches)"
    )
    run.add_argument("--http", help="host:port of /health and /metrics; '' for none")
    run.add_argument("--stats-every", type=float, help="log counters every S s (default 10)")
    run.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: run)"
    )
    run.set_defaults(func=_run)

    from gaitlink.gateway.install import register as register_install

    register_install(sub)


def _overrides(args: argparse.Namespace) -> dict:
    return {
        "id": args.id,
        "site": {"url": args.site},
        "cloud": {"url": args.cloud},
        "spool": {
            "dir": args.spool_dir,
            "max_bytes": args.spool_max_bytes,
            "batch_frames": args.batch_frames,
        },
        "http": {"listen": args.http},
        "stats_every_s": args.stats_every,
    }


def _fail(message: str) -> int:
    print(f"gaitlink gateway: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    import json
    import logging
    import math
    import signal
    import threading
    import time

    from gaitlink.gateway.config import ConfigError, load
    from gaitlink.gateway.service import Gateway
    from gaitlink.mqtt.link import LinkError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s gateway %(levelname)s %(message)s")
    if args.duration is not None and args.duration <= 0:
        return _fail("--duration must be > 0 seconds (leave it out to run)")
    try:
        settings = load(args.config, _overrides(args))
        gateway = Gateway(settings)
    except (ConfigError, ValueError) as exc:
        return _fail(str(exc))
    try:
        gateway.start()
    except (ValueError, LinkError, OSError) as exc:
        gateway.close()
        return _fail(str(exc))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    log = logging.getLogger("gateway")
    relay = gateway.relay
    # Endpoints print without credentials. tools/services.py waits for this line.
    log.info(
        "gateway ready: relaying %s -> %s, spool %s (%d messages held)%s",
        relay.site.endpoint, relay.cloud.endpoint, relay.spool.path, relay.spool.messages,
        f", http://{gateway.http_address}/health" if gateway.http_address else "",
    )  # fmt: skip
    stop_at = math.inf if args.duration is None else time.monotonic() + args.duration
    while (remaining := stop_at - time.monotonic()) > 0:
        if done.wait(min(settings.stats_every_s, remaining)):
            break
        log.info("counters %s", json.dumps(relay.snapshot()))
    gateway.stop()
    print(json.dumps({"gateway": relay.snapshot()}), flush=True)
    return 0
