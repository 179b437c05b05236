"""/metrics of the real ingest process, read with prometheus-client's own parser."""

from prometheus_client.parser import text_string_to_metric_families

from gaitlink.tools.stack import influx_query
from tests.api.service import api_service, recent_t0_us, walking_frames
from tests.integration.pipeline import count, gateway_publisher, publish_all, wait_until

DEVICE = "prom-1"


def _families(api, key=None):
    status, headers, text = api.call("/metrics", key=key)
    assert status == 200, text
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(family, suffix="", **labels):
    (sample,) = [s for s in family.samples if s.name == family.name + suffix and s.labels == labels]
    return sample.value


def test_metrics__prometheus_text_counts_what_happened(fresh_stack, tmp_path):
    # A stack of its own: on the shared one, retained messages that earlier tests left on
    # the cloud broker (statuses with their own time, config reports) reach this ingest
    # when it subscribes, and are rightly counted as messages, so exact counts would
    # depend on which tests ran before.
    with api_service(fresh_stack, tmp_path) as api:
        _counts_what_happened(api, fresh_stack)


def _counts_what_happened(api, stack):
    frames, samples = walking_frames(DEVICE, recent_t0_us(120), 20)
    extra = [frames[3], (f"gaitlink/v1/{DEVICE}/imu", b"GL short")]  # a duplicate, a dead letter
    with gateway_publisher(stack, DEVICE) as client:
        publish_all(client, frames)
        wait_until(
            lambda: count(stack, "imu", f"WHERE device='{DEVICE}'") == len(samples), 60, "imu"
        )
        publish_all(client, extra)

    def counted() -> bool:
        f = _families(api)
        return _value(f["gaitlink_ingest_messages"], "_total") == len(frames) + 2

    wait_until(counted, 30, "every message counted")
    wait_until(
        lambda: (
            "gaitlink_ingest_dead_letters" in _families(api)
            and _families(api)["gaitlink_ingest_dead_letters"].samples
        ),
        10,
        "the dead letter counted",
    )
    f = _families(api)
    assert f["gaitlink_ingest_messages"].type == "counter"
    assert _value(f["gaitlink_ingest_samples"], "_total") == len(samples)
    assert _value(f["gaitlink_ingest_frames"], "_total") == len(frames)
    assert _value(f["gaitlink_ingest_duplicates"], "_total") == 1
    assert _value(f["gaitlink_ingest_dead_letters"], "_total", reason="short") == 1
    assert _value(f["gaitlink_ingest_influx_stalled"]) == 0
    assert f["gaitlink_ingest_queue_depth"].type == "gauge"
    # The write histograms saw every line the ingest wrote, in writes that each took time.
    written = _value(f["gaitlink_ingest_lines_written"], "_total")
    assert written >= len(samples)
    assert _value(f["gaitlink_ingest_write_lines"], "_sum") == written
    writes = _value(f["gaitlink_ingest_write_seconds"], "_count")
    assert writes >= 1 and _value(f["gaitlink_ingest_write_seconds"], "_sum") > 0
    buckets = [s.value for s in f["gaitlink_ingest_write_seconds"].samples
               if s.name.endswith("_bucket")]  # fmt: skip
    assert buckets == sorted(buckets) and buckets[-1] == writes
    stored = influx_query(stack, f"SELECT count(cadence) FROM gait_cycle WHERE device='{DEVICE}'")
    cycles = _value(f["gaitlink_gait_cycles"], "_total", placement="foot")
    assert cycles == stored[0]["count"] >= 5
    assert _value(f["gaitlink_stream_clients"]) == 0
    assert _value(f["gaitlink_stream_dropped"], "_total") == 0


def test_metrics__can_be_closed_to_all_but_admin_keys(stack, tmp_path):
    with api_service(stack, tmp_path, "--metrics-need-key") as api:
        status, _, body = api.call("/metrics")
        assert status == 401 and body["error"] == "unauthorized"
        assert api.call("/metrics", key="researcher")[0] == 403
        assert "gaitlink_ingest_messages" in _families(api, key="admin")
        assert api.call("/health")[0] == 200  # health stays open
