"""GET /v1/sessions/{id}/export on the real ingest process: a stopped session's cycles and
raw samples as LocoHub-layout parquet, streamed, readable by pyarrow."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from gaitlink.research.variables import variable_name
from tests.api.service import PERIOD_US, api_service, recent_t0_us, walking_frames
from tests.integration.pipeline import gateway_publisher, publish_all, wait_until

DEVICE = "export-01"


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def _download(api, path: str, out, key: str = "researcher") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {api.keys[key]}"})
        resp = conn.getresponse()
        with open(out, "wb") as f:
            while chunk := resp.read(64 * 1024):
                f.write(chunk)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def recorded(stack, tmp_path_factory):
    """A session of 20 s of synthetic walking, stopped; and one still open."""
    with api_service(stack, tmp_path_factory.mktemp("export")) as api:
        t0 = recent_t0_us(120)
        frames, samples = walking_frames(DEVICE, t0, 20)
        start = {"subject": "EXP1_AB01", "task": "level_walking", "device": DEVICE,
                 "placement": "foot", "side": "left", "start": _iso(t0 - 1_000_000)}  # fmt: skip
        status, _, session = api.call("/v1/sessions", key="researcher", method="POST", body=start)
        assert status == 201, session
        with gateway_publisher(stack, DEVICE) as client:
            publish_all(client, frames)
        cycles = f"/v1/devices/{DEVICE}/cycles?start={_iso(t0 - 1_000_000)}&limit=1000"
        wait_until(lambda: len(api.ok(cycles)["rows"]) >= 5, 60, "cycles in InfluxDB")
        end = t0 + len(samples) * PERIOD_US + 1_000_000
        stop = api.call(f"/v1/sessions/{session['id']}/stop", key="researcher", method="POST",
                        body={"end": _iso(end)})  # fmt: skip
        assert stop[0] == 200, stop
        api.session = session["id"]
        api.samples = len(samples)
        status, _, still_open = api.call("/v1/sessions", key="researcher", method="POST",
                                         body={**start, "subject": "EXP1_AB02",
                                               "device": "export-02"})  # fmt: skip
        assert status == 201, still_open
        api.open_session = still_open["id"]
        yield api


def test_session_export__phase_file_opens_with_pyarrow_with_locohub_columns(recorded, tmp_path):
    out = tmp_path / "phase.parquet"
    status, headers = _download(recorded, f"/v1/sessions/{recorded.session}/export", out)
    assert status == 200, out.read_text(errors="replace")[:300]
    assert headers["content-type"] == "application/vnd.apache.parquet"
    assert f"session-{recorded.session}_EXP1_AB01" in headers["content-disposition"]
    table = pq.read_table(out)
    variables = [variable_name(c, "foot") for c in ("ax", "ay", "az", "gx", "gy", "gz")]
    assert table.column_names == [
        "subject", "task", "task_id", "task_info", "step", "phase_ipsi", *variables,
    ]  # fmt: skip
    assert table.num_rows % 150 == 0 and table.num_rows >= 5 * 150
    assert set(table.column("subject").to_pylist()) == {"EXP1_AB01"}


def test_session_export__time_file_has_every_sample(recorded, tmp_path):
    out = tmp_path / "time.parquet"
    status, _ = _download(recorded, f"/v1/sessions/{recorded.session}/export?kind=time", out)
    assert status == 200
    table = pq.read_table(out)
    assert table.column_names[:5] == ["subject", "task", "task_id", "task_info", "time_s"]
    assert table.num_rows == recorded.samples
    times = table.column("time_s").to_pylist()
    assert 0.9 <= min(times) <= 1.1  # the session started 1 s before the first sample


def test_session_export__refused_open_unknown_or_without_a_researcher_key(recorded, tmp_path):
    out = tmp_path / "x"
    assert _download(recorded, f"/v1/sessions/{recorded.open_session}/export", out)[0] == 409
    assert _download(recorded, "/v1/sessions/999999/export", out)[0] == 404
    assert _download(recorded, f"/v1/sessions/{recorded.session}/export?kind=csv", out)[0] == 400
    assert _download(recorded, f"/v1/sessions/{recorded.session}/export", out, "device")[0] == 403
