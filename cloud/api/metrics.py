"""`/metrics` in the Prometheus text format (prometheus-client).

The ingest's counters are read at scrape time from the pipeline's `snapshot()`, so any
counter the pipeline adds (seq jumps, skipped gait frames...) appears without a change
here. Every integer becomes a counter `gaitlink_ingest_<name>_total` (a gauge for the few
LEVELS); a `<name>_by_reason` mapping, a counter with a `reason` label (in place of the
plain total); a nested mapping, `gaitlink_ingest_<name>_<key>_total`. What only a timer
can tell (write latency, batch size) is observed by writes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gaitlink.cloud.api.stream import StreamHub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PREFIX = "gaitlink_ingest_"
# Snapshot entries that are levels, which go up and down, not counts: exported as gauges.
LEVELS = frozenset({"held_for_retry", "dead_letter_store_bytes"})


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._write_seconds = Histogram(
            "gaitlink_ingest_write_seconds",
            "Time of one InfluxDB write that succeeded",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self._write_lines = Histogram(
            "gaitlink_ingest_write_lines",
            "Points (lines) in one InfluxDB write",
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000),
            registry=self.registry,
        )
        self._write_failures = Counter(
            "gaitlink_ingest_write_failures",
            "InfluxDB writes that failed (each is retried or narrowed down)",
            registry=self.registry,
        )
        self._sources: list[Callable[[], Iterator[Metric]]] = []
        self.registry.register(_Collect(self._sources))

    def written(self, seconds: float, lines: int) -> None:
        self._write_seconds.observe(seconds)
        self._write_lines.observe(lines)

    def write_failed(self) -> None:
        self._write_failures.inc()

    def add_source(self, source: Callable[[], Iterator[Metric]]) -> None:
        self._sources.append(source)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collect:
    def __init__(self, sources: list[Callable[[], Iterator[Metric]]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source()


def snapshot_metrics(snapshot: Mapping[str, object], prefix: str = _PREFIX) -> Iterator[Metric]:
    for name, value in snapshot.items():
        if isinstance(value, bool):
            yield _gauge(prefix + name, f"{name} (1 = yes)", int(value))
        elif isinstance(value, int) and name in LEVELS:
            yield _gauge(prefix + name, f"ingest level {name}", value)
        elif isinstance(value, int):
            if f"{name}_by_reason" in snapshot:
                continue  # the labelled family below carries it, split by reason
            yield _counter(prefix + name, f"ingest counter {name}", value)
        elif name.endswith("_by_reason") and isinstance(value, Mapping):
            family = CounterMetricFamily(
                prefix + name.removesuffix("_by_reason"), f"{name}", labels=["reason"]
            )
            for reason, count in sorted(value.items()):
                family.add_metric([str(reason)], count)
            yield family
        elif isinstance(value, Mapping):
            yield from snapshot_metrics(value, f"{prefix}{name}_")


def queue_metrics(backlog: int, queue_full: int, hub: StreamHub) -> Iterator[Metric]:
    yield _gauge("gaitlink_ingest_queue_depth", "Messages waiting for the pipeline", backlog)
    yield _counter(
        "gaitlink_ingest_queue_full", "Messages left unacked because the queue was full", queue_full
    )
    yield _gauge("gaitlink_stream_clients", "Connected WebSocket clients", len(hub.clients))
    yield _gauge(
        "gaitlink_stream_queue_depth",
        "Messages waiting in all WebSocket client queues",
        sum(len(c.queue) for c in hub.clients),
    )
    yield _counter("gaitlink_stream_queued", "Messages put in client queues", hub.queued_total)
    yield _counter("gaitlink_stream_sent", "Messages sent to WebSocket clients", hub.sent_total)
    yield _counter(
        "gaitlink_stream_dropped", "Oldest messages dropped for slow clients", hub.dropped_total
    )


def stall_metric(reason: str | None) -> Metric:
    return _gauge(
        "gaitlink_ingest_influx_stalled", "1 while InfluxDB refuses writes", int(bool(reason))
    )


def cycles_metric(by_placement: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(
        "gaitlink_gait_cycles", "Gait cycles written, per placement", labels=["placement"]
    )
    for placement, count in sorted(by_placement.items()):
        family.add_metric([placement], count)
    return family


def _counter(name: str, doc: str, value: float) -> Metric:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)
