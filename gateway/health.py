"""HTTP /health and /metrics for the gateway (prometheus-client text format).

The metrics are read from the relay's counters at scrape time by one custom collector, so
the per-message path does no metric bookkeeping of its own.

/health answers 200 `{"ok": true, ...}`, or 503 with the reasons when the cloud link has
been down longer than `cloud_down_s` or the spool is fuller than `spool_alarm_fraction` of
its byte bound.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gaitlink.gateway.relay import Relay


def health(relay: Relay, cloud_down_s: float, spool_alarm_fraction: float) -> tuple[bool, dict]:
    now = time.time()
    reasons = []
    down_since = relay.cloud_down_since
    if down_since is not None and now - down_since > cloud_down_s:
        reasons.append(f"cloud broker unreachable for {now - down_since:.0f} s")
    spool = relay.spool
    capacity = spool.capacity_bytes()
    if spool.bytes > spool_alarm_fraction * capacity:
        reasons.append(
            f"spool at {spool.bytes} of {capacity} bytes "
            f"(over {spool_alarm_fraction:.0%}): the cloud is not keeping up"
        )
    body = {
        "ok": not reasons,
        "reasons": reasons,
        "site_connected": relay.site.connected,
        "cloud_connected": relay.cloud.connected,
        "spool_messages": spool.messages,
        "spool_bytes": spool.bytes,
        "spool_oldest_age_s": round(spool.oldest_age_s(now), 3),
    }
    return not reasons, body


class RelayCollector:
    """Prometheus view of one relay, computed at scrape time."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def collect(self) -> Iterator:
        relay = self.relay
        spool = relay.spool
        snap = relay.snapshot()
        yield GaugeMetricFamily(
            "gaitlink_gateway_spool_messages", "Messages in the spool", value=snap["spool_messages"]
        )
        yield GaugeMetricFamily(
            "gaitlink_gateway_spool_bytes", "Bytes in the spool", value=snap["spool_bytes"]
        )
        yield GaugeMetricFamily(
            "gaitlink_gateway_spool_capacity_bytes",
            "The spool's byte bound now (max_bytes, or less near the free-space reserve)",
            value=spool.capacity_bytes(),
        )
        yield GaugeMetricFamily(
            "gaitlink_gateway_spool_oldest_age_seconds",
            "Age of the oldest message in the spool",
            value=snap["spool_oldest_age_s"],
        )
        yield CounterMetricFamily(
            "gaitlink_gateway_spool_commits",
            "Spool transactions made durable (one fsync each)",
            value=spool.commits,
        )
        yield CounterMetricFamily(
            "gaitlink_gateway_spool_commit_seconds",
            "Time spent in spool commits",
            value=spool.commit_seconds,
        )
        for name, key, help_text in (
            ("uplink_received", "uplink_received", "Site messages spooled and acked"),
            ("uplink_delivered", "uplink_delivered", "Spooled messages the cloud acked"),
            ("uplink_republished", "uplink_republished", "Sent again after a restart"),
            ("uplink_batches", "uplink_batches", "Frame batches published to the cloud"),
            ("uplink_batched_frames", "uplink_batched_frames", "Frames sent inside batches"),
            ("downlink_received", "downlink_received", "Cloud messages for devices"),
            ("downlink_delivered", "downlink_delivered", "Downlink messages the site acked"),
            ("time_beacons", "time_beacons", "Time beacons published"),
        ):
            yield CounterMetricFamily(f"gaitlink_gateway_{name}", help_text, value=snap[key])
        drops = CounterMetricFamily(
            "gaitlink_gateway_spool_dropped",
            "Messages dropped by the spool's bounds, per device and reason (full, age, reserve)",
            labels=["device", "reason"],
        )
        for (device, reason), n in sorted(dict(spool.dropped).items()):
            drops.add_metric([device, reason], n)
        yield drops
        connected = GaugeMetricFamily(
            "gaitlink_gateway_broker_connected", "1 while connected", labels=["broker"]
        )
        reconnects = CounterMetricFamily(
            "gaitlink_gateway_broker_reconnects", "Reconnections after the first", labels=["broker"]
        )
        for broker in ("site", "cloud"):
            connected.add_metric([broker], 1 if snap[f"{broker}_connected"] else 0)
            reconnects.add_metric([broker], snap[f"{broker}_reconnects"])
        yield connected
        yield reconnects
        last_seen = GaugeMetricFamily(
            "gaitlink_gateway_device_last_seen_seconds",
            "Unix time of the last message from each device",
            labels=["device"],
        )
        online = GaugeMetricFamily(
            "gaitlink_gateway_device_online", "1 while the device is online", labels=["device"]
        )
        now = time.time()
        for device, report in relay.presence.report(now).items():
            last_seen.add_metric([device], now - report["last_seen_s"])
            online.add_metric([device], 1 if report["state"] == "online" else 0)
        yield last_seen
        yield online


class HealthServer:
    """/health and /metrics on one small threaded HTTP server."""

    def __init__(
        self, relay: Relay, host: str, port: int, *, cloud_down_s: float, spool_alarm: float
    ) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RelayCollector(relay))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    ok, body = health(relay, cloud_down_s, spool_alarm)
                    self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
                else:
                    self._send(404, b"not found: try /health or /metrics\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass  # scrapes every 15 s would drown the journal

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
