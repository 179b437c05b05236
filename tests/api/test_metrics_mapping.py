"""How the pipeline's snapshot becomes Prometheus families (pure logic; the real
service's output is tested in test_metrics_service.py)."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gaitlink.cloud.api.metrics import snapshot_metrics


def _exposed(snapshot):
    class Source:
        def collect(self):
            return snapshot_metrics(snapshot)

    registry = CollectorRegistry()
    registry.register(Source())
    text = generate_latest(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_snapshot_metrics__counts_levels_reasons_and_nested():
    families = _exposed(
        {
            "messages": 12,
            "held_for_retry": 3,
            "dead_letters": 4,
            "dead_letters_by_reason": {"bad_crc": 3, "short": 1},
            "gait": {"cycles": 7},
            "influx_stalled": None,
            "problems": ["text is not a metric"],
        }
    )
    assert families["gaitlink_ingest_messages"].type == "counter"
    assert families["gaitlink_ingest_held_for_retry"].type == "gauge"
    reasons = {s.labels["reason"]: s.value for s in families["gaitlink_ingest_dead_letters"].samples
               if s.name.endswith("_total")}  # fmt: skip
    assert reasons == {"bad_crc": 3, "short": 1}
    assert families["gaitlink_ingest_gait_cycles"].samples[0].value == 7
    assert set(families) == {
        "gaitlink_ingest_messages", "gaitlink_ingest_held_for_retry",
        "gaitlink_ingest_dead_letters", "gaitlink_ingest_gait_cycles",
    }  # fmt: skip
