"""`gaitlink gateway run`: the relay as an operator starts it on a Raspberry Pi."""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gateway", help="run the site-to-cloud MQTT relay")
    sub = parser.add_subparsers(dest="gateway_command", required=True)
    run = sub.add_parser("run", help="relay the site broker to the cloud broker")
    # Defaults: the env that `gaitlink stack up` prints, else the standard MQTT port.
    run.add_argument(
        "--site",
        default=os.environ.get("GAITLINK_SITE_MQTT_URL", "127.0.0.1:1883"),
        help="site broker, host:port (default $GAITLINK_SITE_MQTT_URL or 127.0.0.1:1883)",
    )
    run.add_argument(
        "--cloud",
        default=os.environ.get("GAITLINK_CLOUD_MQTT_URL", "127.0.0.1:1883"),
        help="cloud broker, host:port (default $GAITLINK_CLOUD_MQTT_URL or 127.0.0.1:1883)",
    )
    run.add_argument("--id", default="gateway", help="gateway id (names its MQTT sessions)")
    run.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: run)"
    )
    run.add_argument("--stats-every", type=float, default=10.0, help="log counters every S s")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import logging
    import math
    import signal
    import sys
    import threading
    import time

    from gaitlink.gateway.relay import Relay
    from gaitlink.mqtt.endpoint import Endpoint
    from gaitlink.mqtt.link import LinkError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s gateway %(levelname)s %(message)s")
    if args.stats_every <= 0:
        print("gaitlink gateway: --stats-every must be > 0 seconds", file=sys.stderr)
        return 2
    if args.duration is not None and args.duration <= 0:
        print(
            "gaitlink gateway: --duration must be > 0 seconds (leave it out to run)",
            file=sys.stderr,
        )
        return 2
    try:
        site = Endpoint.parse(args.site, what="--site")
        cloud = Endpoint.parse(args.cloud, what="--cloud")
        relay = Relay(site, cloud, gateway_id=args.id)
        relay.start()
    except (ValueError, LinkError) as exc:
        print(f"gaitlink gateway: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    log = logging.getLogger("gateway")
    # Endpoints print without credentials. tools/services.py waits for this line.
    log.info("gateway ready: relaying %s -> %s", site, cloud)
    stop_at = math.inf if args.duration is None else time.monotonic() + args.duration
    while (remaining := stop_at - time.monotonic()) > 0:
        if done.wait(min(args.stats_every, remaining)):
            break
        log.info("counters %s", json.dumps(relay.snapshot()))
    relay.stop()
    print(json.dumps({"gateway": relay.snapshot()}), flush=True)
    return 0
