"""HTTPS for the API when the service itself terminates TLS (`--tls-cert`, `--tls-key`).

The private key must be readable by its owner only; a key others can read is refused, as
every secrets file is. Without both options the service speaks plain HTTP, for a proxy in
front or for localhost.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from gaitlink.secrets import check_private


def server_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    check_private(key, "--tls-key")  # a SecretError (ValueError) with the chmod to run
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert {cert} / --tls-key {key}: {exc}") from None
    return context
