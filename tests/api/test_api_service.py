"""Every /v1 route of the real ingest process, on real mosquitto and InfluxDB."""

import json
from pathlib import Path

import numpy as np
import pytest
from openapi_spec_validator import validate

from gaitlink.cloud.api.openapi import document
from gaitlink.cloud.ingest.app import create_app
from gaitlink.cloud.ingest.routes import service_routes
from gaitlink.cloud.ingest.settings import IngestSettings
from gaitlink.tools import services
from gaitlink.tools.stack import influx_query
from tests.api.service import PERIOD_US, api_service, recent_t0_us, walking_frames
from tests.integration.pipeline import count, gateway_publisher, publish_all, wait_until

DEVICE = "api-walk"
SECONDS = 40
STORED = 5e-7  # imu values are stored to 1e-6 SI (docs/schema.md): half of it off at most


@pytest.fixture(scope="module")
def api(stack, tmp_path_factory):
    """The service with a 40 s walk, a status report and one env reading of `api-walk`."""
    with api_service(stack, tmp_path_factory.mktemp("api")) as api:
        t0 = recent_t0_us(SECONDS + 30)
        frames, samples = walking_frames(DEVICE, t0, SECONDS)
        status = {"device_id": DEVICE, "state": "online", "boot_id": 7, "frames_sent": 80,
                  "frames_dropped": 0, "firmware_version": "0.3.1"}  # fmt: skip
        with gateway_publisher(stack, DEVICE) as client:
            publish_all(client, [*frames, (f"gaitlink/v1/{DEVICE}/status", json.dumps(status))])
        n = len(samples)
        where = f"WHERE device='{DEVICE}'"
        wait_until(lambda: count(stack, "imu", where) == n, 60, "the walk in InfluxDB")
        wait_until(
            lambda: influx_query(stack, f"SELECT * FROM device_status {where}"), 10, "status"
        )
        api.t0, api.samples = t0, samples
        yield api


def test_api__no_key_is_401_in_the_error_shape_with_a_request_id(api):
    for path in ("/v1/devices", f"/v1/devices/{DEVICE}/data", "/v1/stats", "/v1/openapi.json"):
        status, headers, body = api.call(path)
        assert status == 401, path
        assert body["error"] == "unauthorized" and "Bearer" in body["detail"]
        assert headers["www-authenticate"].startswith("Bearer")
        assert len(headers["x-request-id"]) == 16
    status, _, body = api.call("/v1/devices", key="glk_123456789abc_not-the-secret")
    assert status == 401 and body["error"] == "unauthorized"
    status, headers, _ = api.call("/v1/devices", headers={"X-Request-Id": "trace-42"})
    assert headers["x-request-id"] == "trace-42"


def test_api__a_key_of_the_wrong_role_is_403(api):
    assert api.call("/v1/devices", key="device")[0] == 403
    assert api.call("/v1/stats", key="researcher")[0] == 403
    env = _env("api-env")
    status, _, body = api.call("/v1/data/ingest", key="researcher", method="POST", body=env)
    assert status == 403 and body["error"] == "forbidden" and "admin, device" in body["detail"]


def test_api__health_and_metrics_are_open(api):
    status, _, body = api.call("/health")
    assert status == 200 and body == {"status": "ok", "problems": []}
    status, headers, text = api.call("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert "gaitlink_ingest_messages_total" in text


def test_api__devices_one_device_and_unknown(api):
    listed = api.ok("/v1/devices")["devices"]
    assert {"id": DEVICE, "placement": "foot", "axis_map": "x,y,z"} in listed
    one = api.ok(f"/v1/devices/{DEVICE}")
    assert one["id"] == DEVICE and {"imu", "device_status", "gait_cycle"} <= set(
        one["measurements"]
    )
    status, _, body = api.call("/v1/devices/no-such-device", key="researcher")
    assert status == 404 and body["error"] == "device_not_found"
    status, _, body = api.call("/v1/devices/Bad%20Id", key="researcher")
    assert status == 400 and body["error"] == "invalid_parameter"


def test_api__device_status(api):
    state = api.ok(f"/v1/devices/{DEVICE}/status")
    assert state["online"] is True and state["state"] == "online"
    assert state["boot_id"] == 7 and state["firmware_version"] == "0.3.1"
    assert state["counters"] == {"frames_sent": 80, "frames_dropped": 0}
    last_sample_us = api.t0 + (len(api.samples) - 1) * PERIOD_US
    assert state["last_seen_us"] >= last_sample_us


def test_api__raw_data_pages_return_every_sample_once_in_order(api):
    path = f"/v1/devices/{DEVICE}/data?limit=1500&channels=ax,gz"
    rows, pages = [], 0
    page = api.ok(path)
    while True:
        pages += 1
        rows += page["rows"]
        assert page["channels"] == ["ax", "gz"] and len(page["rows"]) <= 1500
        if not page["truncated"]:
            assert page["next_cursor"] is None
            break
        page = api.ok(
            f"/v1/devices/{DEVICE}/data?limit=1500&channels=ax,gz&cursor={page['next_cursor']}"
        )
    n = len(api.samples)
    assert pages == -(-n // 1500)
    assert [r["time_us"] for r in rows] == [api.t0 + k * PERIOD_US for k in range(n)]
    np.testing.assert_allclose([r["ax"] for r in rows], api.samples[:, 0], rtol=1e-6, atol=STORED)
    np.testing.assert_allclose([r["gz"] for r in rows], api.samples[:, 5], rtol=1e-6, atol=STORED)
    assert set(rows[0]) == {"time_us", "ax", "gz"}


def test_api__aggregated_data_is_the_mean_per_second(api):
    page = api.ok(f"/v1/devices/{DEVICE}/data?aggregation=mean&interval=1s&limit=10")
    assert page["truncated"] and len(page["rows"]) == 10
    assert "q" not in page["channels"]
    per_second = 1_000_000 // PERIOD_US
    expected = api.samples[: 10 * per_second].reshape(10, per_second, 6).mean(axis=1)
    assert [r["time_us"] for r in page["rows"]] == [api.t0 + k * 1_000_000 for k in range(10)]
    got = np.array([[r[c] for c in ("ax", "ay", "az", "gx", "gy", "gz")] for r in page["rows"]])
    # The samples are float32 counts × scale; their means cancel to ~1e-7.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    following = api.ok(
        f"/v1/devices/{DEVICE}/data?aggregation=max&interval=1s&limit=10&cursor={page['next_cursor']}"
    )
    assert following["rows"][0]["time_us"] == api.t0 + 10 * 1_000_000
    expected_max = api.samples[10 * per_second : 11 * per_second, 0].max()
    assert following["rows"][0]["ax"] == pytest.approx(expected_max, rel=1e-6, abs=STORED)


def test_api__latest_sample(api):
    latest = api.ok(f"/v1/devices/{DEVICE}/data/latest")
    n = len(api.samples)
    assert latest["time_us"] == api.t0 + (n - 1) * PERIOD_US
    assert latest["values"]["ax"] == pytest.approx(api.samples[-1, 0], rel=1e-6, abs=STORED)
    status, _, body = api.call("/v1/devices/api-env/data/latest", key="researcher")
    assert status == 404 and body["error"] in ("device_not_found", "no_data")


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("aggregation=median", "aggregation"),
        ("aggregation=mean", "interval"),
        ("aggregation=mean&interval=1s&channels=q", "q"),
        ("channels=ax,foo", "channels"),
        ("cursor=not-a-cursor", "cursor"),
        ("start=yesterday", "start"),
        ("start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "start must be before end"),
        ("limt=5", "limt"),
    ],
)
def test_api__invalid_data_parameters_are_400_naming_the_parameter(api, query, named):
    status, _, body = api.call(f"/v1/devices/{DEVICE}/data?{query}", key="researcher")
    assert status == 400, body
    assert body["error"] in ("invalid_parameter", "invalid_cursor") and named in body["detail"]


def test_api__cycles_and_events_are_the_stored_rows(api, stack):
    where = f"WHERE device='{DEVICE}'"
    stored = influx_query(stack, f"SELECT count(cadence) FROM gait_cycle {where}")[0]["count"]
    cycles = api.ok(f"/v1/devices/{DEVICE}/cycles?limit=10000")
    assert not cycles["truncated"] and len(cycles["rows"]) == stored >= 10
    row = cycles["rows"][0]
    assert {"time_us", "duration_s", "cadence", "valid", "placement"} <= set(row)
    events = api.ok(f"/v1/devices/{DEVICE}/events?limit=5")
    assert events["truncated"] and len(events["rows"]) == 5
    assert {r["kind"] for r in events["rows"]} <= {"IC", "FC"}
    times = [r["time_us"] for r in events["rows"]]
    rest = api.ok(f"/v1/devices/{DEVICE}/events?limit=10000&cursor={events['next_cursor']}")
    stored_events = influx_query(stack, f"SELECT count(delay_ms) FROM gait_event {where}")
    assert len(times) + len(rest["rows"]) == stored_events[0]["count"]
    assert rest["rows"][0]["time_us"] > times[-1]


def _env(device, **changes):
    body = {
        "device_id": device,
        "timestamp": "2026-11-30T10:15:30.250Z",
        "sensor_data": {"temperature": {"value": 21.5, "unit": "°C", "quality": "good"}},
        "device_status": {"battery_level": 80, "signal_strength": -60, "firmware_version": "0.3"},
    }
    body.update(changes)
    return body


def test_api__ingest_env_over_http_is_written_like_mqtt(api, stack):
    status, _, body = api.call("/v1/data/ingest", key="device", method="POST", body=_env("api-env"))
    assert status == 200, body
    assert body == {"device_id": "api-env", "points": 1}
    (row,) = influx_query(stack, "SELECT * FROM env WHERE device='api-env'", epoch="u")
    assert row["temperature"] == 21.5 and row["time"] == 1_796_033_730_250_000
    # A device key speaks for its own device only; an admin key for any.
    status, _, body = api.call("/v1/data/ingest", key="device", method="POST", body=_env("other"))
    assert status == 403 and "api-env" in body["detail"]
    assert api.call("/v1/data/ingest", key="admin", method="POST", body=_env("other"))[0] == 200


def test_api__ingest_env_invalid_body_is_422_naming_the_field(api):
    bad = _env("api-env", device_status={"battery_level": 180})
    status, _, body = api.call("/v1/data/ingest", key="device", method="POST", body=bad)
    assert status == 422 and body["error"] == "invalid_body"
    assert "device_status.battery_level" in body["detail"]
    status, _, body = api.call("/v1/data/ingest", key="device", method="POST", body=b"{nope")
    assert status == 422 and body["error"] == "invalid_body"


def test_api__ingest_env_from_the_future_is_rejected_by_the_same_checks_as_mqtt(api):
    future = _env("api-env", timestamp="2099-01-01T00:00:00Z")
    status, _, body = api.call("/v1/data/ingest", key="device", method="POST", body=future)
    assert status == 422 and body["error"] == "rejected"
    assert services.ingest_metrics(api.port)["dead_letters_by_reason"]["time_out_of_range"] == 1


def test_api__unknown_route_and_method_keep_the_error_shape(api):
    status, _, body = api.call("/v1/nothing-here", key="researcher")
    assert status == 404 and body["error"] == "not_found"
    status, headers, body = api.call("/v1/devices", key="researcher", method="DELETE")
    assert status == 405 and body["error"] == "method_not_allowed" and "GET" in headers["allow"]


def test_api__no_key_material_in_the_log_or_argv(api):
    # Runs after the routes above have been called with every key, good and bad.
    api.call("/v1/devices", key="glk_123456789abc_a-wrong-secret-that-must-not-be-logged")
    log = api.service.log_since_start()
    argv = (Path("/proc") / str(api.service.process.pid) / "cmdline").read_bytes().decode()
    assert "GET /v1/devices" in log  # the access log is there, without the header
    for key in [*api.keys.values(), "a-wrong-secret-that-must-not-be-logged"]:
        secret = key.split("_", 2)[2] if key.startswith("glk_") else key
        assert secret not in log and secret not in argv


def _served_routes(app) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"  # aiohttp adds HEAD to every GET by itself
        # The browser UI (cookie log-in, docs/ui.md) is not part of the bearer-key API.
        and not route.resource.canonical.startswith("/ui")
    }


def _documented_routes(doc) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item}


def test_openapi__document_and_served_routes_match_both_ways(api):
    served_doc = api.ok("/v1/openapi.json")
    validate(served_doc)  # the OpenAPI 3.1 meta-schema
    app = create_app(IngestSettings(api_keys_file=api.service.log_path.parent / "api-keys.json"))
    assert _documented_routes(served_doc) == _served_routes(app)
    assert served_doc == json.loads(json.dumps(document(service_routes(IngestSettings()))))
    for path, item in served_doc["paths"].items():
        for operation in item.values():
            assert ("security" in operation) == path.startswith("/v1/"), path


def test_openapi__a_route_missing_from_either_side_is_caught():
    # The check above must be able to fail: an extra served route breaks the equality.
    settings = IngestSettings()
    app = create_app(settings)

    async def undocumented(request):
        return None

    app.router.add_get("/v1/undocumented", undocumented)
    doc = document(service_routes(settings))
    assert ("get", "/v1/undocumented") in _served_routes(app) - _documented_routes(doc)
    doc["paths"].pop("/v1/devices")
    assert ("get", "/v1/devices") in _served_routes(app) - _documented_routes(doc)
