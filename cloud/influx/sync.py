"""A blocking client for InfluxDB's v1 HTTP API (urllib), for scripts and notebooks.

The ingest uses the async client (`client.InfluxV1`); the session CLI and the research API
run where no event loop is wanted (a notebook already runs one), so they use this. Both
share the settings, the authentication and the reading of responses.
"""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

from gaitlink.cloud.influx.v1 import (
    InfluxError,
    InfluxSettings,
    auth_headers,
    error_text,
    series_of,
)

# A proxy set for the internet must not swallow requests to a database on loopback.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT = urllib.request.build_opener()


class InfluxV1Sync:
    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._base = settings.url.rstrip("/")
        parts = urlsplit(self._base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL {settings.url!r} is not http(s)://host[:port]")
        if parts.username or parts.password:
            raise ValueError(
                "put no credentials in the InfluxDB URL (they end up in logs): pass username/"
                "password or token"
            )
        self._opener = _DIRECT if _is_loopback(parts.hostname) else _DEFAULT

    def _post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str]:
        headers = auth_headers(self.settings)
        url = f"{self._base}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.settings.timeout_s) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode(errors="replace")
        except (OSError, TimeoutError) as exc:
            raise InfluxError.unreachable(self._base, exc) from exc

    def query(self, q: str, *, epoch: str | None = "u") -> list[dict]:
        """Run InfluxQL; the series of its first statement. Times as integers in `epoch`
        units (µs by default), or RFC 3339 text with epoch=None."""
        params = {"db": self.settings.database}
        if epoch is not None:
            params["epoch"] = epoch
        # The query goes in the body: it can be long, and URLs end up in proxy logs.
        status, text = self._post("/query", params, urllib.parse.urlencode({"q": q}).encode())
        return series_of(status, text)

    def write(self, lines: str, *, precision: str = "u") -> None:
        """Write line protocol (timestamps in µs by default); InfluxError if refused."""
        params = {"db": self.settings.database, "precision": precision}
        status, text = self._post("/write", params, lines.encode())
        if status != 204:
            raise InfluxError(
                f"InfluxDB write refused ({status}): {error_text(text)}",
                status=status,
                retryable=status not in (400, 413),
            )

    def ping(self) -> bool:
        """True when InfluxDB answers /ping (HTTP 204)."""
        request = urllib.request.Request(f"{self._base}/ping")
        try:
            with self._opener.open(request, timeout=self.settings.timeout_s) as resp:
                return resp.status == 204
        except (OSError, TimeoutError):  # HTTPError is an OSError too
            return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
