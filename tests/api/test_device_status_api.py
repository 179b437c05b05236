"""The firmware's newer status fields (faults, clock, imu, heap_min_free) through the real
ingest into the real InfluxDB and out of GET /v1/devices/{id}/status; a bad value costs only
itself, and says so as an `ingest_quality` incident."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gaitlink.tools import services
from gaitlink.tools.stack import influx_query
from tests.api.service import api_service
from tests.integration.pipeline import gateway_publisher, publish_all, wait_until

DEVICE = "http-status-1"
FAULTS = {"i2c_errors": 4, "imu_lost": 1, "imu_reinits": 1, "fifo_overflows": 0,
          "samples_lost": 30, "stuck_events": 1, "clipped_frames": 2, "env_errors": 3}  # fmt: skip


def _status(at: datetime, **changes) -> tuple[str, str]:
    status = {"device_id": DEVICE, "state": "online", "boot_id": 11, "frames_sent": 40,
              "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "firmware_version": "0.4.2",
              "free_heap": 12000, "heap_min_free": 10624, "imu": "lost", "faults": FAULTS,
              "clock": {"steps": 1, "slews": 40, "last_error_us": -312}} | changes  # fmt: skip
    return f"gaitlink/v1/{DEVICE}/status", json.dumps(status)


def test_status__faults_clock_imu_heap_stored_and_served_bad_value_costs_only_itself(
    stack, tmp_path
):
    path = f"/v1/devices/{DEVICE}/status"
    with api_service(stack, tmp_path) as api, gateway_publisher(stack, DEVICE) as client:
        first = datetime.now(UTC)
        publish_all(client, [_status(first)])
        wait_until(lambda: api.call(path, key="researcher")[0] == 200, 30, "a status")
        state = api.ok(path)
        assert state["faults"] == FAULTS and state["imu"] == "lost"
        assert state["clock"] == {"steps": 1, "slews": 40, "last_error_us": -312}
        assert state["counters"]["heap_min_free"] == 10624 and state["boot_id"] == 11

        # A later status with one impossible counter and a broken clock block: the rest of
        # it is stored, the bad values are named in an incident, nothing is dead-lettered.
        bad_faults = FAULTS | {"i2c_errors": -7, "samples_lost": 31}
        later = datetime.fromtimestamp(first.timestamp() + 1, UTC)
        publish_all(client, [_status(later, imu="ok", faults=bad_faults, clock="drifting")])
        wait_until(lambda: api.ok(path)["imu"] == "ok", 30, "the second status")
        state = api.ok(path)
        assert state["faults"] == {k: v for k, v in bad_faults.items() if k != "i2c_errors"}
        assert state["clock"] == {} and state["counters"]["frames_sent"] == 40
        rows = influx_query(stack, f"SELECT * FROM ingest_quality WHERE device = '{DEVICE}'")
        (incident,) = rows
        assert incident["kind"] == "bad_status_field"
        assert "faults.i2c_errors" in incident["detail"] and "clock" in incident["detail"]
        metrics = services.ingest_metrics(api.port)
        assert metrics["status_fields_dropped"] == 1 and metrics["dead_letters"] == 0
