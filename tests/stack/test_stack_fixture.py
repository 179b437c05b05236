"""The session `stack` fixture and the InfluxDB helpers other test rooms rely on."""

from __future__ import annotations

from gaitlink.tools.stack import Stack, influx_query, influx_write
from gaitlink.tools.stack.mosquitto import is_healthy


def test_stack_fixture__all_running(stack: Stack) -> None:
    assert [s.state for s in stack.status()] == ["running"] * 3
    assert is_healthy(stack.host, stack.site_port)
    assert is_healthy(stack.host, stack.cloud_port, ca_file=stack.ca_file)  # TLS only


def test_influx_query__rows_with_tags(stack: Stack) -> None:
    influx_write(
        stack,
        "gait_cycle,device=dev-q,placement=shank cadence=110.5 1000\n"
        "gait_cycle,device=dev-q,placement=shank cadence=112.0 2000",
    )
    rows = influx_query(
        stack, "SELECT cadence FROM gait_cycle WHERE device = 'dev-q' GROUP BY placement"
    )
    assert rows == [
        {"_measurement": "gait_cycle", "placement": "shank", "time": 1000, "cadence": 110.5},
        {"_measurement": "gait_cycle", "placement": "shank", "time": 2000, "cadence": 112.0},
    ]
    assert stack.env()["GAITLINK_INFLUX_DB"] == "gaitlink"
