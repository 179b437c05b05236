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
