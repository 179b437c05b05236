"""Broker addresses as operators type them: `host:port`, `mqtt://host:port`, `mqtts://host`.

An address never carries credentials: a URL ends up in logs, error messages and argv, which
every user of the machine can read. The username comes from its own option and the password
from a file or an environment variable (gaitlink.secrets); `with_login` adds them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
_TLS_SCHEMES = ("mqtts", "ssl")


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # TLS: the server certificate is verified against ca_file (None: the system's CAs).
    tls: bool = False
    ca_file: Path | None = None

    @classmethod
    def parse(cls, text: str, *, what: str = "broker") -> Endpoint:
        raw = text if "://" in text else f"mqtt://{text}"
        parts = urlsplit(raw)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                f"{what} address {parts.hostname or '?'}: expected host:port, "
                "mqtt://host:port or mqtts://host:port"
            )
        if parts.username is not None or parts.password is not None:
            # Never echo the text: it holds the secret.
            raise ValueError(
                f"{what} address for {parts.hostname}: no credentials in the address (argv "
                "and logs are readable by others); give the username with its own option "
                "and the password in a file of mode 0600 or an environment variable"
            )
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ValueError(f"{what} address {text!r}: port must be 1-65535") from None
        return cls(parts.hostname, port, tls=parts.scheme in _TLS_SCHEMES)

    def with_login(self, username: str | None, password: str | None) -> Endpoint:
        return dataclasses.replace(self, username=username, password=password)

    def with_ca(self, ca_file: Path | str | None) -> Endpoint:
        """Verify the server with this CA; a CA file turns TLS on."""
        if ca_file is None:
            return self
        return dataclasses.replace(self, tls=True, ca_file=Path(ca_file))

    def __str__(self) -> str:
        # Printed in logs and errors: never the username or password.
        return f"mqtts://{self.host}:{self.port}" if self.tls else f"{self.host}:{self.port}"
