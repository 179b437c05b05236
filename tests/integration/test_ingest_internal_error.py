"""An internal error is a bug, not bad input: the real service (in this process, so a bug can
be planted) between a real mosquitto and a real InfluxDB keeps the message, says why on
/health, and writes it once the bug is gone."""

import asyncio
import json
import time
import urllib.error
import urllib.request

from aiohttp import web

from gaitlink.cloud.ingest.app import create_app
from gaitlink.cloud.ingest.devices import DeviceBook, DeviceProfile
from gaitlink.cloud.ingest.settings import IngestSettings
from gaitlink.tools.services import ingest_metrics
from gaitlink.tools.stack import free_port
from tests.integration.pipeline import count, gateway_publisher, publish_all
from tests.integration.test_ingest_safety import _frames


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):  # blocking HTTP off the loop that serves it
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_ingest__an_internal_error_keeps_the_message_and_health_says_why(
    stack, tmp_path, monkeypatch
):
    real_to_body = DeviceBook.to_body
    bug = {"planted": True}

    def to_body(self, device, samples):
        if device == "buggy" and bug["planted"]:
            raise ZeroDivisionError("planted bug")
        return real_to_body(self, device, samples)

    monkeypatch.setattr(DeviceBook, "to_body", to_body)
    port = free_port()
    ingest = stack.cloud_endpoint(stack.account("ingest"))
    influx_user, influx_password = stack.influx_auth("influx_writer")
    settings = IngestSettings(
        mqtt_host=ingest.host,
        mqtt_port=ingest.port,
        mqtt_username=ingest.username,
        mqtt_password=ingest.password,
        mqtt_tls=ingest.tls,
        mqtt_ca_file=ingest.ca_file,
        client_id=f"ingest-bug-{port}",
        influx_url=stack.influx_url,
        influx_database=stack.database,
        influx_username=influx_user,
        influx_password=influx_password,
        http_port=port,
        dead_letter_path=tmp_path / "dead-letters",
        api_keys_file=tmp_path / "api-keys.json",
        registry_path=tmp_path / "registry.sqlite3",
        accept_unprovisioned=DeviceProfile(),
        gait=False,
    )
    t0 = time.time_ns() // 1000 - 60_000_000
    messages = _frames("healthy", 5, t0_us=t0) + _frames("buggy", 1, t0_us=t0)
    messages += _frames("healthy", 5, t0_us=t0 + 5 * 500_000, first_seq=5)

    async def scenario() -> None:
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            with gateway_publisher(stack, "healthy", "buggy", "probe") as client:
                # The consumer subscribes as it connects; a probe, sent until it arrives,
                # shows the subscription is in place before the messages that count.
                probe = _frames("probe", 1, t0_us=t0)

                def probe_arrived() -> bool:
                    publish_all(client, probe)
                    return ingest_metrics(port)["messages"] > 0

                await _until(probe_arrived, 20, "the ingest's subscription")
                await asyncio.to_thread(publish_all, client, messages)
            healthy = "WHERE device='healthy'"
            await _until(lambda: count(stack, "imu", healthy) == 500, 30, "the healthy device")
            await _until(lambda: _health(port)[0] == 503, 10, "/health to go 503")
            _, body = await asyncio.to_thread(_health, port)
            assert any("ZeroDivisionError: planted bug" in p for p in body["problems"]), body
            metrics = await asyncio.to_thread(ingest_metrics, port)
            assert metrics["internal_errors"] >= 1 and metrics["dead_letters"] == 0
            assert count(stack, "imu", "WHERE device='buggy'") == 0
            bug["planted"] = False  # the fix; the held message is retried (every 5 s)
            await _until(lambda: count(stack, "imu", "WHERE device='buggy'") == 50, 30, "retry")
            await _until(lambda: _health(port)[0] == 200, 10, "/health to clear")
            assert (await asyncio.to_thread(ingest_metrics, port))["dead_letters"] == 0
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
