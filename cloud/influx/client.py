"""Async client for InfluxDB's v1 HTTP API, on aiohttp."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import aiohttp

from gaitlink.secrets import redact


class InfluxError(Exception):
    """InfluxDB refused a request. `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable

    @classmethod
    def unreachable(cls, url: str, exc: BaseException) -> InfluxError:
        return cls(f"InfluxDB at {redact(url)} unreachable: {exc!r}", status=None, retryable=True)


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    url: str = "http://127.0.0.1:8086"
    database: str = "gaitlink"
    username: str | None = None
    password: str | None = None
    # InfluxDB 2.x/3.x serve /write and /query with a token instead of user/password.
    token: str | None = None
    timeout_s: float = 10.0


def auth_headers(settings: InfluxSettings) -> dict[str, str]:
    """The Authorization header for the settings' token or user, else none."""
    if settings.token:
        return {"Authorization": f"Token {settings.token}"}
    if settings.username:
        # Basic auth, not the u/p query parameters, which InfluxDB writes to its log.
        pair = f"{settings.username}:{settings.password or ''}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    return {}


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
            f"InfluxDB write refused ({resp.status}): {_error_text(body)}",
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


def _error_text(body: str) -> str:
    try:
        return json.loads(body).get("error", body)
    except (ValueError, AttributeError):
        return body.strip()[:500]


def series_of(status: int, body: str) -> list[dict]:
    """The series of the first statement of a /query response, or InfluxError."""
    if status != 200:
        raise InfluxError(
            f"InfluxDB query refused ({status}): {_error_text(body)}",
            status=status,
            retryable=status >= 500,
        )
    result = json.loads(body)["results"][0]
    if "error" in result:
        raise InfluxError(f"InfluxQL error: {result['error']}", status=status, retryable=False)
    return result.get("series", [])
