"""/v1/sessions on the real ingest process: the registry, InfluxDB's `session`, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gaitlink.tools.stack import influx_query
from tests.api.service import api_service


@pytest.fixture(scope="module")
def api(stack, tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("sessions-api")
    with api_service(stack, state_dir) as api:
        api.state_dir = state_dir
        yield api


START = {
    "subject": "HTTP1_AB01", "task": "incline_walking", "task_info": "incline_deg:5",
    "device": "http-01", "placement": "foot", "side": "right",
    "start": "2026-06-01T09:00:00Z",
}  # fmt: skip


def _influx_session(stack):
    return influx_query(stack, "SELECT * FROM session WHERE subject = 'HTTP1_AB01'", epoch="u")


def test_sessions_api__start_list_stop_reach_the_registry_and_influx(stack, api) -> None:
    status, _, body = api.call("/v1/sessions", key="device", method="POST", body=START)
    assert status == 403
    status, _, body = api.call(
        "/v1/sessions", key="researcher", method="POST", body={**START, "subject": "http1_ab01"}
    )
    assert status == 422 and "must be upper case (HTTP1_AB01)" in body["detail"], body

    status, _, started = api.call("/v1/sessions", key="researcher", method="POST", body=START)
    assert status == 201, started
    assert started["start_us"] == 1_780_304_400_000_000 and started["end_us"] is None
    status, _, body = api.call("/v1/sessions", key="researcher", method="POST", body=START)
    assert status == 409 and f"open session {started['id']}" in body["detail"]

    listed = api.ok("/v1/sessions?subject=HTTP1_AB01&open=true")["sessions"]
    assert [s["id"] for s in listed] == [started["id"]]
    (row,) = _influx_session(stack)
    assert (row["task"], row["device"], row["side"]) == ("incline_walking", "http-01", "right")
    assert "end_us" not in row or row["end_us"] is None

    stop = f"/v1/sessions/{started['id']}/stop"
    body = {"end": "2026-06-01T09:10:00+00:00"}
    stopped = api.ok(stop, method="POST", body=body)
    assert stopped["end_us"] == started["start_us"] + 600_000_000
    assert api.call(stop, key="researcher", method="POST", body={})[0] == 409
    assert api.call("/v1/sessions/999999/stop", key="researcher", method="POST", body={})[0] == 404
    (row,) = _influx_session(stack)
    assert row["end_us"] == stopped["end_us"]

    # The CLI reads the same registry.
    env = {**os.environ, **stack.env()}
    listing = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "session", "list", "--subject",
         "HTTP1_AB01", "--registry", str(api.state_dir / "registry.sqlite3")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert listing.returncode == 0 and "2026-06-01T09:10:00+00:00" in listing.stdout
