"""/health and /metrics of a running gateway, with real brokers."""

import json
import signal
import urllib.error
import urllib.request

from gaitlink.gateway.config import load
from gaitlink.gateway.service import Gateway
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto
from tests.gateway.helpers import SITE_EXTRA, frames, gateway_metrics, metric, publish
from tests.waiting import wait_until


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_health__503_with_the_reason_when_the_cloud_stays_down(tmp_path, monkeypatch):
    monkeypatch.delenv("GAITLINK_GATEWAY_CONFIG", raising=False)
    site = Mosquitto(tmp_path / "site", free_port(), extra=SITE_EXTRA)
    cloud = Mosquitto(tmp_path / "cloud", free_port())
    site.start()
    cloud.start()
    http = free_port()
    settings = load(
        None,
        {
            "id": "health", "site": {"url": f"127.0.0.1:{site.port}"},
            "cloud": {"url": f"127.0.0.1:{cloud.port}"}, "spool": {"dir": tmp_path / "spool"},
            "http": {"listen": f"127.0.0.1:{http}", "cloud_down_s": 0.5},
            "status_every_s": 0.2,
        },
    )  # fmt: skip
    gateway = Gateway(settings)
    gateway.start()
    try:
        publish(site.port, frames("h-1", 0, 20))
        wait_until(lambda: metric(gateway_metrics(http), "gaitlink_gateway_uplink_delivered_total")
                 == 20, 10, "20 delivered")  # fmt: skip
        status, body = _health(http)
        assert status == 200 and body["ok"] and body["cloud_connected"]
        values = gateway_metrics(http)
        for name in (
            "gaitlink_gateway_spool_messages", "gaitlink_gateway_spool_bytes",
            "gaitlink_gateway_spool_oldest_age_seconds", "gaitlink_gateway_uplink_received_total",
        ):  # fmt: skip
            assert (name, ()) in values, name
        assert metric(values, "gaitlink_gateway_broker_connected", broker="cloud") == 1
        assert metric(values, "gaitlink_gateway_device_online", device="h-1") == 1
        assert metric(values, "gaitlink_gateway_device_last_seen_seconds", device="h-1") > 0

        cloud.signal(signal.SIGTERM)
        cloud.proc.wait(10)
        publish(site.port, frames("h-1", 20, 5))
        wait_until(lambda: _health(http)[0] == 503, 10, "/health to turn 503")
        status, body = _health(http)
        assert any("cloud broker unreachable" in r for r in body["reasons"]), body
        assert body["spool_messages"] == 5
        values = gateway_metrics(http)
        assert metric(values, "gaitlink_gateway_broker_connected", broker="cloud") == 0
        cloud.start()
        wait_until(lambda: _health(http)[0] == 200, 20, "/health back to 200")
        assert metric(gateway_metrics(http), "gaitlink_gateway_broker_reconnects_total",
                      broker="cloud") == 1  # fmt: skip
    finally:
        gateway.stop()
        site.kill()
        cloud.kill()
