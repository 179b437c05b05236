"""Broker addresses as operators type them: `host:port`, `mqtt://host:port`, or `host`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, text: str, *, what: str = "broker") -> Endpoint:
        raw = text if "://" in text else f"mqtt://{text}"
        parts = urlsplit(raw)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"{what} address {text!r}: expected host:port or mqtt://host:port")
        try:
            port = parts.port or 1883
        except ValueError:
            raise ValueError(f"{what} address {text!r}: port must be 1-65535") from None
        return cls(parts.hostname, port, parts.username, parts.password)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"
