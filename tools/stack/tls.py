"""TLS of the cloud broker: the stack's private CA and the server certificate it signs.

Files, under `STATE/tls/`:

- `ca.crt`: the CA certificate. Public: clients verify the broker with it
  (`--mqtt-ca`, `--cloud-ca`, the gateway's `cloud.ca_file`, `$GAITLINK_CLOUD_MQTT_CA`).
- `ca.key`: the CA's private key, mode 0600. Only needed to issue a server certificate.
- `cloud_broker.crt`, `cloud_broker.key` (0600): what mosquitto serves.

`ensure_server_files` runs at every start of the cloud broker: it makes the CA at the first
start and (re)issues the server certificate when it is missing, about to expire, not for the
broker's address, or not signed by `ca.crt`. A deployment's own CA goes in place of ours:
put its `ca.crt` and a server certificate and key it signed (and no `ca.key`, which then
stays with the deployment); the stack serves them as long as they are valid (docs/security.md).

Keys are elliptic-curve P-256 (fast to make, accepted by mosquitto's OpenSSL and by Python's
ssl), written through `gaitlink.secrets.write_secret` and never printed.
`cryptography` is imported inside the functions: the rest of tools/stack runs without it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from gaitlink.secrets import SecretError, read_secret, write_secret
from gaitlink.tools.stack.errors import StackError

CA_NAME = "gaitlink local stack CA"
CA_DAYS = 3650
SERVER_DAYS = 397  # the longest a public CA may issue; a local stack renews at start-up
RENEW_BEFORE = dt.timedelta(days=30)
SERVER = "cloud_broker"


@dataclass(frozen=True, slots=True)
class ServerFiles:
    ca: Path
    cert: Path
    key: Path


def tls_dir(state_dir: Path) -> Path:
    return state_dir / "tls"


def ca_path(state_dir: Path) -> Path:
    return tls_dir(state_dir) / "ca.crt"


def server_files(state_dir: Path) -> ServerFiles:
    folder = tls_dir(state_dir)
    return ServerFiles(folder / "ca.crt", folder / f"{SERVER}.crt", folder / f"{SERVER}.key")


def host_names(host: str) -> list[str]:
    """The names a server certificate for `host` carries: `host`, and `localhost` for a
    loopback address (clients of the local stack use either)."""
    names = [host]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback and "localhost" not in names:
        names.append("localhost")
    return names


def ensure_server_files(state_dir: Path, host: str) -> ServerFiles:
    """The CA, server certificate and key the cloud broker serves, made or renewed if needed."""
    files = server_files(state_dir)
    tls_dir(state_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key_path = files.ca.with_suffix(".key")
    if not files.ca.exists():
        if ca_key_path.exists():
            raise StackError(
                f"{ca_key_path} exists without {files.ca}: put the CA certificate back, or "
                f"delete the key to make a new CA (then every client needs the new ca.crt)"
            )
        _make_ca(files.ca, ca_key_path)
    problem = server_certificate_problem(files, host)
    if problem is None:
        return files
    if not ca_key_path.exists():
        raise StackError(
            f"the cloud broker's certificate {files.cert} {problem}, and there is no "
            f"{ca_key_path} to issue a new one: put a certificate and key for {host} signed "
            f"by {files.ca} there (docs/security.md, 'Your own CA')"
        )
    ca_key = load_key(ca_key_path)
    cert, key = issue_server_certificate(load_cert(files.ca), ca_key, host_names(host))
    write_secret(files.key, key)
    _write_public(files.cert, cert)
    return files


def server_certificate_problem(files: ServerFiles, host: str) -> str | None:
    """Why the server certificate cannot be served as it is, or None if it can."""
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    if not files.cert.exists() or not files.key.exists():
        return "is missing"
    try:
        cert = load_cert(files.cert)
        ca = load_cert(files.ca)
    except ValueError:
        return "is not a PEM certificate"
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return f"expires on {cert.not_valid_after_utc:%Y-%m-%d}"
    try:
        subject = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    # The checks a TLS client makes: chain to the CA, validity, and the broker's name.
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(subject)
    try:
        verifier.verify(cert, [])
    except VerificationError:
        return f"is not signed by {files.ca} for {host}"
    return None


def issue_server_certificate(ca_cert, ca_key, names: list[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a TLS server known by `names`, signed by the CA.
    Tests use it to make certificates the stack would not (another name, another CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # clocks a little behind ours
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def make_ca(name: str = CA_NAME) -> tuple[object, object]:
    """(certificate, private key) of a new self-signed CA (cryptography objects)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_ca(cert_path: Path, key_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    cert, key = make_ca()
    write_secret(key_path, _key_pem(key))  # first: a CA certificate never exists without it
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # mosquitto reads it unattended; the file is 0600
    )


def _write_public(path: Path, data: bytes) -> None:
    # Atomic like a secret (a half-written certificate would stop the broker), then made
    # readable: a certificate is public.
    write_secret(path, data)
    path.chmod(0o644)


def load_cert(path: Path):
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path):
    from cryptography.hazmat.primitives import serialization

    try:
        text = read_secret(path, "CA key")  # refuses a key others can read
    except SecretError as exc:
        raise StackError(str(exc)) from None
    return serialization.load_pem_private_key(text.encode(), password=None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
