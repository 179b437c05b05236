"""TLS on the cloud broker, against the stack's real mosquitto: what a client on the internet
sees of it, and that the whole path runs through it."""

from __future__ import annotations

import gc
import socket
import ssl
import time
import warnings

import numpy as np
import pytest

from gaitlink.mqtt.endpoint import Endpoint
from gaitlink.secrets import write_secret
from gaitlink.tools.stack import Stack, free_port, tls
from gaitlink.tools.stack.mosquitto import _CONNECT, is_healthy
from tests.cloud.frames import encode_frame
from tests.firmware.helpers import Mosquitto
from tests.integration.pipeline import (
    count,
    device_publisher,
    publish_all,
    running_pipeline,
    wait_until,
)
from tests.security.clients import connack


def _handshake(port: int, ca_file, server_hostname: str = "127.0.0.1") -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as sock,
    ):
        assert sock.version() in ("TLSv1.2", "TLSv1.3")


def test_cloud_broker__plain_mqtt_to_the_tls_port_gets_no_connack(stack):
    # The control: the same CONNECT over TLS, verified with the stack's CA, is answered.
    assert is_healthy(stack.host, stack.cloud_port, ca_file=stack.ca_file)
    with socket.create_connection((stack.host, stack.cloud_port), timeout=5) as sock:
        sock.sendall(_CONNECT)
        try:
            answer = sock.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x20\x02")  # no CONNACK, only the end of the connection
    # The project's own client, pointed at the port without TLS, cannot log in either.
    plain = Endpoint(stack.host, stack.cloud_port).with_login("ingest_cloud", "x")
    with pytest.raises((AssertionError, OSError)):
        connack(plain, timeout=3)


def test_cloud_broker__tls_below_1_2_is_refused(stack):
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # what this client is for
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer it; the broker must refuse
    # The broker's alert names the version (a broker allowing 1.1 answers otherwise).
    with (
        socket.create_connection((stack.host, stack.cloud_port), timeout=5) as raw,
        pytest.raises(ssl.SSLError, match="alert protocol version"),
    ):
        context.wrap_socket(raw, server_hostname=stack.host)


def _paho_refusal(endpoint: Endpoint) -> str | None:
    """Why the project's MQTT client fails the TLS handshake, None if it does not."""
    with warnings.catch_warnings():
        # paho leaves the socket of a failed handshake to the garbage collector
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            connack(endpoint)
        except ssl.SSLCertVerificationError as exc:
            reason: str | None = exc.verify_message
        else:
            reason = None
        gc.collect()
    return reason


def test_cloud_broker__a_client_trusting_another_ca_fails_the_handshake(stack, tmp_path):
    other_ca, _key = tls.make_ca("not the stack's CA")
    wrong = tmp_path / "other-ca.crt"
    from cryptography.hazmat.primitives.serialization import Encoding

    wrong.write_bytes(other_ca.public_bytes(Encoding.PEM))
    _handshake(stack.cloud_port, stack.ca_file)  # the control: the stack's CA verifies it
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(stack.cloud_port, wrong)
    # The same through the project's MQTT client, with the ingest's real password.
    ingest = stack.cloud_endpoint(stack.account("ingest"))
    assert connack(ingest) == "accepted"
    # (OpenSSL names it by what it met first: the broker's CA, or no issuer it trusts)
    assert "certificate" in (_paho_refusal(ingest.with_ca(wrong)) or "")


def test_cloud_broker__a_certificate_for_another_host_name_is_refused(stack, tmp_path):
    # A broker serving a certificate that the stack's own CA signed, but for another name:
    # what an attacker with some other valid certificate of the same CA would present.
    ca_key = tls.load_key(stack.ca_file.with_suffix(".key"))
    cert, key = tls.issue_server_certificate(
        tls.load_cert(stack.ca_file), ca_key, ["cloud.example.org"]
    )
    (tmp_path / "server.crt").write_bytes(cert)
    write_secret(tmp_path / "server.key", key)
    port = free_port()
    broker = Mosquitto(
        tmp_path / "broker", port,
        extra=(f"cafile {stack.ca_file}", f"certfile {tmp_path / 'server.crt'}",
               f"keyfile {tmp_path / 'server.key'}", "tls_version tlsv1.2"),
    )  # fmt: skip
    broker.start()
    try:
        # The chain is good: a client that skips the name check gets through (the control).
        context = ssl.create_default_context(cafile=str(stack.ca_file))
        context.check_hostname = False
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            context.wrap_socket(raw).close()
        with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
            _handshake(port, stack.ca_file)
        endpoint = Endpoint("127.0.0.1", port).with_ca(stack.ca_file)
        assert "mismatch" in (_paho_refusal(endpoint) or "")
    finally:
        broker.kill()


def test_stack__tls_keys_are_private_and_never_logged(stack):
    files = tls.server_files(stack.state_dir)
    ca_key = files.ca.with_suffix(".key")
    assert {p: _mode(p) for p in (ca_key, files.key)} == {ca_key: 0o600, files.key: 0o600}
    assert _mode(tls.tls_dir(stack.state_dir)) == 0o700
    assert _mode(files.ca) == 0o644  # public: clients need it
    bodies = [p.read_text().splitlines()[1] for p in (ca_key, files.key)]  # a line of the key
    logs = [stack.log_path(name) for name in ("site_broker", "cloud_broker", "influxdb")]
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "PRIVATE KEY" not in text and not [b for b in bodies if b in text]


def test_stack__reissues_a_missing_or_foreign_server_certificate(fresh_stack):
    files = tls.server_files(fresh_stack.state_dir)
    first = files.cert.read_bytes()
    fresh_stack.stop("cloud_broker")
    files.cert.unlink()  # rotation: delete the certificate, start again
    assert fresh_stack.start("cloud_broker") == "started"
    second = files.cert.read_bytes()
    assert second != first and tls.server_certificate_problem(files, fresh_stack.host) is None
    # A certificate another CA signed is not served: replaced by one of the stack's CA.
    other_ca, other_key = tls.make_ca("someone else")
    cert, key = tls.issue_server_certificate(other_ca, other_key, ["127.0.0.1"])
    fresh_stack.stop("cloud_broker")
    files.cert.write_bytes(cert)
    write_secret(files.key, key)
    assert "not signed" in (tls.server_certificate_problem(files, "127.0.0.1") or "")
    fresh_stack.start("cloud_broker")
    assert tls.server_certificate_problem(files, fresh_stack.host) is None
    assert is_healthy(fresh_stack.host, fresh_stack.cloud_port, ca_file=fresh_stack.ca_file)


def test_stack__without_the_ca_key_a_bad_certificate_is_a_clear_error(tmp_path):
    from gaitlink.tools.stack import StackError

    files = tls.ensure_server_files(tmp_path, "127.0.0.1")  # a deployment's files, say
    files.ca.with_suffix(".key").unlink()  # the CA key stays with the deployment
    assert tls.ensure_server_files(tmp_path, "127.0.0.1") == files  # valid: served as is
    with pytest.raises(StackError, match=r"no .*ca\.key to issue a new one"):
        tls.ensure_server_files(tmp_path, "10.1.2.3")  # not a name the certificate has


def test_stack__a_ca_key_others_can_read_is_refused(tmp_path):
    from gaitlink.tools.stack import StackError

    files = tls.ensure_server_files(tmp_path, "127.0.0.1")
    files.ca.with_suffix(".key").chmod(0o644)
    files.cert.unlink()
    with pytest.raises(StackError, match="readable by others"):
        tls.ensure_server_files(tmp_path, "127.0.0.1")


def test_pipeline__gateway_to_ingest_through_the_tls_cloud_broker(stack: Stack, tmp_path):
    device_id = "sec-tls-path"
    t0_us = time.time_ns() // 1000
    rng = np.random.default_rng(7)
    frames = [
        (
            f"gaitlink/v1/{device_id}/imu",
            encode_frame(rng.integers(-2000, 2000, (50, 6), np.int16), boot_id=3, seq=s,
                         t0_us=t0_us + s * 500_000, period_us=10_000),
        )
        for s in range(10)
    ]  # fmt: skip
    with running_pipeline(stack, tmp_path) as pipeline, device_publisher(stack, device_id) as dev:
        # Both services reach the cloud broker over TLS, as their logs say.
        assert f"-> mqtts://{stack.host}:{stack.cloud_port}" in pipeline["gateway"].tail()
        publish_all(dev, frames)
        where = f"WHERE device='{device_id}'"
        wait_until(lambda: count(stack, "imu", where) >= 500, 60, "500 samples in imu")
    assert count(stack, "imu", where) == 500


def _mode(path) -> int:
    return path.stat().st_mode & 0o777
