"""What both clients of InfluxDB's v1 HTTP API share (the async `client.InfluxV1` of the
ingest and the blocking `sync.InfluxV1Sync` of scripts, the research API and the local
stack): settings, authentication, the one error type, and the reading of responses.
No aiohttp here, so the blocking side imports none."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

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


def error_text(body: str) -> str:
    try:
        return json.loads(body).get("error", body)
    except (ValueError, AttributeError):
        return body.strip()[:500]


def series_of(status: int, body: str) -> list[dict]:
    """The series of the first statement of a /query response, or InfluxError."""
    if status != 200:
        raise InfluxError(
            f"InfluxDB query refused ({status}): {error_text(body)}",
            status=status,
            retryable=status >= 500,
        )
    result = json.loads(body)["results"][0]
    if "error" in result:
        raise InfluxError(f"InfluxQL error: {result['error']}", status=status, retryable=False)
    return result.get("series", [])
