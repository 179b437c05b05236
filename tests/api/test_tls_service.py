"""HTTPS served by the ingest itself (`--tls-cert`, `--tls-key`), on the real process."""

import dataclasses
import datetime
import http.client
import ipaddress
import os
import ssl
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gaitlink.cloud.api.keystore import KeyFile
from gaitlink.tools import services
from gaitlink.tools.stack import free_port


def _self_signed(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(loopback, critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "api.crt", folder / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def _https(port, cert_path, path, token=None):
    context = ssl.create_default_context(cafile=str(cert_path))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_api_tls__serves_https_only(stack, tmp_path):
    cert_path, key_path = _self_signed(tmp_path)
    admin = KeyFile(services.api_keys_file(tmp_path)).create("tls admin", "admin")
    port = free_port()
    service = services.ingest(
        stack, tmp_path, http_port=port,
        extra=("--tls-cert", str(cert_path), "--tls-key", str(key_path)),
    )  # fmt: skip

    def ready(_service):
        try:
            return _https(port, cert_path, "/health")[0] == 200
        except OSError:
            return False

    service = dataclasses.replace(service, ready=ready, start_timeout_s=120).start()
    try:
        assert _https(port, cert_path, "/v1/devices", admin)[0] == 200
        assert _https(port, cert_path, "/v1/devices")[0] == 401
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/health")
            plain.getresponse()
        plain.close()
    finally:
        service.stop()


def test_api_tls__a_key_others_can_read_is_refused(tmp_path):
    cert_path, key_path = _self_signed(tmp_path)
    key_path.chmod(0o640)
    result = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "ingest", "run",
         "--tls-cert", str(cert_path), "--tls-key", str(key_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "readable by others" in result.stderr and "Traceback" not in result.stderr
    alone = subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "ingest", "run", "--tls-cert", str(cert_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert alone.returncode == 2 and "go together" in alone.stderr
