"""PUT /v1/devices/{id}/config on the real ingest process: registry, signature, retained
publish on the real cloud broker, key roles and refusals."""

from __future__ import annotations

import json

from gaitlink.cloud.protocol.config import signature
from gaitlink.cloud.registry.db import open_registry
from gaitlink.cloud.registry.devices import DeviceStore
from gaitlink.mqtt.oneshot import read_retained
from tests.api.service import api_service


def test_put_config__signed_stored_and_retained_admin_only(stack, tmp_path) -> None:
    with api_service(stack, tmp_path) as api:
        registry = tmp_path / "registry.sqlite3"
        store = DeviceStore(open_registry(registry))
        key = store.provision("http-cfg-1", "shank", "right").key
        path = "/v1/devices/http-cfg-1/config"

        status, _, body = api.call(path, key="researcher", method="PUT", body={"rate_hz": 50})
        assert status == 403, body
        status, _, body = api.call(path, key="admin", method="PUT", body={"rate_hz": 33})
        assert status == 422 and "rate_hz" in json.dumps(body), body
        status, _, body = api.call("/v1/devices/nobody/config", key="admin", method="PUT",
                                   body={"rate_hz": 50})  # fmt: skip
        assert status == 404 and "not provisioned" in json.dumps(body), body

        body = api.ok(path, key="admin", method="PUT", body={"rate_hz": 50})
        assert body["version"] == 1 and body["published"] is True
        body = api.ok(path, key="admin", method="PUT", body={"acc_range_g": 4})
        assert body["version"] == 2 and body["config"] == {"rate_hz": 50, "acc_range_g": 4}

        topic = "gaitlink/v1/http-cfg-1/config/desired"
        operator = stack.cloud_endpoint(stack.account("operator"))
        message = json.loads(read_retained(operator, [topic])[topic])
        assert message["version"] == 2
        assert message["sig"] == signature(key, 2, message["config"])
        assert store.desired("http-cfg-1").version == 2


def test_get_device__desired_against_reported_status_and_presence(stack, tmp_path) -> None:
    from datetime import UTC, datetime

    from tests.integration.pipeline import gateway_publisher, publish_all, wait_until

    device = "http-view-1"
    with api_service(stack, tmp_path) as api:
        store = DeviceStore(open_registry(tmp_path / "registry.sqlite3"))
        store.provision(device, "foot", "left")
        path = f"/v1/devices/{device}"
        # Provisioned, nothing desired, nothing heard: in sync at version 0, not online.
        view = api.ok(path)
        assert (view["provisioned"], view["side"], view["in_sync"], view["online"]) == (
            True, "left", True, False)  # fmt: skip
        assert view["desired"] is None and view["reported"] is None and view["status"] is None

        api.ok(f"{path}/config", key="admin", method="PUT", body={"rate_hz": 50})
        view = api.ok(path)
        assert view["desired"]["version"] == 1 and view["desired"]["config"] == {"rate_hz": 50}
        assert view["in_sync"] is False and view["reported"] is None

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        report = {
            "device_id": device,
            "version": 1,
            "status": "applied",
            "desired_version": 1,
            "timestamp": now,
            "config": {"rate_hz": 50, "samples_per_frame": 50},
        }
        status = {
            "device_id": device,
            "state": "online",
            "boot_id": 3,
            "timestamp": now,
            "firmware_version": "0.4.2",
            "config_version": 1,
            "frames_sent": 5,
        }
        with gateway_publisher(stack, device) as client:  # as the gateway relays them
            publish_all(
                client,
                [
                    (f"gaitlink/v1/{device}/config/reported", json.dumps(report)),
                    (f"gaitlink/v1/{device}/status", json.dumps(status)),
                ],
            )
        # The ingest records the report in the registry and the status in InfluxDB.
        wait_until(lambda: api.ok(path)["in_sync"] and api.ok(path)["online"], 30, "in sync")
        view = api.ok(path)
        assert view["reported"]["version"] == 1 and view["reported"]["status"] == "applied"
        assert view["reported"]["config"] == report["config"]
        assert view["firmware_version"] == "0.4.2" and view["status"]["boot_id"] == 3
        assert view["status"]["config_version"] == 1 and "device_status" in view["measurements"]

        # A newer desired version the device has not run: out of sync again.
        api.ok(f"{path}/config", key="admin", method="PUT", body={"rate_hz": 100})
        assert api.ok(path)["in_sync"] is False

        assert api.call(path, key="device")[0] == 403  # a device key reads no device
        assert api.call(path)[0] == 401
        status_code, _, body = api.call("/v1/devices/never-heard-of", key="researcher")
        assert status_code == 404 and body["error"] == "device_not_found"
