"""`gaitlink bench gateway` (tools/bench/gateway.py): its brokers run as a deployment's
(accounts, ACLs, TLS on the cloud one) and its raw-socket load (tools/bench/mqtt_load.py)
logs in to them; a short run reports every figure (no timing is asserted: the figures are
for docs/gateway.md)."""

from __future__ import annotations

import math
import socket
import ssl
from dataclasses import dataclass

import pytest

from gaitlink.tools.bench import gateway, mqtt_load
from gaitlink.tools.stack import accounts, tls


@dataclass(frozen=True)
class _Login:
    username: str
    password: str


@pytest.fixture
def brokers(tmp_path):
    for device in gateway.bench_device_ids(3):
        accounts.add_device(tmp_path, device)
    site, cloud = gateway.Broker(tmp_path, site=True), gateway.Broker(tmp_path, site=False)
    site.start()
    try:
        cloud.start()
        yield site, cloud
    finally:
        cloud.stop()
        site.stop()


def _refused(port: int, login=None, context=None) -> str:
    with pytest.raises(ConnectionError) as refusal:
        mqtt_load._connect(port, "bench-test", login, context).close()
    return str(refusal.value)


def test_bench_gateway_brokers__refuse_anonymous_and_let_the_accounts_in(brokers):
    site, cloud = brokers
    device = site.devices[0]
    assert [d.username for d in site.devices] == ["bench-000", "bench-001", "bench-002"]
    # site: accounts and the site ACL, no TLS (the LAN), as a Pi's installed broker
    assert "not authorized" in _refused(site.port)
    assert "not authorized" in _refused(site.port, _Login(device.username, "wrong"))
    mqtt_load._connect(site.port, "bench-test", device).close()
    site.counter("test").close()  # the gateway's site account may read the devices' frames
    # cloud: TLS only, verified with the stack's CA, then accounts and the cloud ACL
    with pytest.raises(OSError):  # ConnectionError (no CONNACK) or a reset: never a session
        mqtt_load._connect(cloud.port, "bench-test", cloud.reader).close()
    assert "not authorized" in _refused(cloud.port, None, cloud.tls)
    assert "not authorized" in _refused(cloud.port, _Login(cloud.reader.username, "x"), cloud.tls)
    mqtt_load._connect(cloud.port, "bench-test", cloud.gateway, cloud.tls).close()
    cloud.counter("test").close()  # the ingest account reads the data topics


def test_bench_gateway_brokers__cloud_certificate_is_the_stack_cas(brokers, tmp_path):
    _, cloud = brokers
    assert cloud.ca == tls.ca_path(tmp_path)
    with (
        socket.create_connection(("127.0.0.1", cloud.port), timeout=10) as raw,
        cloud.tls.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        assert sock.version() in ("TLSv1.2", "TLSv1.3")  # tls_version tlsv1.2: at least 1.2
    other_ca = ssl.create_default_context()  # the system's CAs: not the stack's
    with pytest.raises(ssl.SSLCertVerificationError):
        mqtt_load._connect(cloud.port, "bench-test", cloud.gateway, other_ca)


def test_mqtt_load__device_accounts_publish_and_the_reader_counts_every_frame(brokers):
    site, _ = brokers
    counter = site.counter("test")
    try:
        sent = mqtt_load.publish(site.port, site.devices, 300, client_id="bench-test")
        assert sent.sent == sent.acked == 300
        assert counter.wait_for(300, 30), counter.arrivals.count
    finally:
        counter.close()
    # each device wrote only its own topic, which the site ACL allows
    assert counter.arrivals.count == 300


def test_bench_gateway__short_run_with_accounts_and_tls_reports_every_figure():
    result = gateway.run(gateway.Spec(devices=5, burst=10_000, live_s=1.0, outage_s=2.0, repeats=1))
    assert result["brokers"] == gateway.SECURITY and "TLS" in gateway.markdown(result)
    for name in ("direct_frames_per_s", "paho_only_frames_per_s", "paho_only_cpu_us_per_frame"):
        assert math.isfinite(result[name]) and result[name] > 0, name
    for mode in gateway.MODES:
        row = result[mode]
        for name in ("frames_per_s", "cpu_us_per_frame", "drain_frames_per_s", "peak_rss_mb"):
            assert math.isfinite(row[name]) and row[name] > 0, (mode, name)
        assert row["drain_backlog_frames"] >= 10_000, mode  # the backlog went through the spool
    assert result["batched"]["drain_batches"] > 0 and result["unbatched"]["drain_batches"] == 0
