"""Async client for InfluxDB's v1 HTTP API, on aiohttp."""

from __future__ import annotations

import aiohttp

# Re-exported: the ingest and the API import them from here.
from gaitlink.cloud.influx.v1 import (
    InfluxError,
    InfluxSettings,
    auth_headers,
    error_text,
    series_of,
)

__all__ = ["InfluxError", "InfluxSettings", "InfluxV1", "auth_headers", "series_of"]


class InfluxV1:
    def __init__(self, session: aiohttp.ClientSession, settings: InfluxSettings) -> None:
        self._session = session
        self._settings = settings
        self._base = settings.url.rstrip("/")

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        return {"db": self._settings.database}, auth_headers(self._settings)

    async def write(self, lines: str) -> None:
        """Write line protocol with µs timestamps; raises InfluxError on refusal."""
        params, headers = self._auth()
        params["precision"] = "u"
        try:
            async with self._session.post(
                f"{self._base}/write",
                params=params,
                data=lines.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
            ) as resp:
                if resp.status == 204:
                    return
                body = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxError.unreachable(self._base, exc) from exc
        # Only 400 (the data) and 413 (the size) are about what we sent: those the caller
        # narrows down. Everything else is about the server or its set-up (401/403
        # credentials, 404 database missing, 429 limits, 5xx): retry until it is fixed,
        # because dropping the data would punish it for a configuration mistake.
        raise InfluxError(
            f"InfluxDB write refused ({resp.status}): {error_text(body)}",
            status=resp.status,
            retryable=resp.status not in (400, 413),
        )

    async def query(self, q: str) -> list[dict]:
        """Run InfluxQL; returns the `series` list of the first statement."""
        params, headers = self._auth()
        params.update(q=q, epoch="u")
        try:
            async with self._session.post(
                f"{self._base}/query", data=params, headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
            ) as resp:  # fmt: skip
                body = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxError.unreachable(self._base, exc) from exc
        return series_of(resp.status, body)

    async def ping(self) -> bool:
        try:
            async with self._session.get(
                f"{self._base}/ping", timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                return resp.status == 204
        except (aiohttp.ClientError, TimeoutError):
            return False
