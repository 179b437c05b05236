"""Browser log-in: an API key is checked once and becomes a session cookie.

The cookie is HttpOnly (no script reads it), SameSite=strict (no other site's page sends
it) and scoped to /ui. Every state-changing request also carries the session's CSRF token
in `X-CSRF-Token`; the pages get it from GET /ui/session, which only a same-origin script
can read. The session remembers the key's id, not the key: a revoked key ends its
sessions at the next request. Sessions live in memory, at most MAX_SESSIONS (the oldest is
dropped and counted), and expire after SESSION_TTL_S. Failed log-ins are limited per client
address and in total (ratelimit.py).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from gaitlink.cloud.api.endpoint import READ, check_role, verify_token
from gaitlink.cloud.api.errors import ApiError, Forbidden, Unauthorized
from gaitlink.cloud.api.keystore import ApiKey
from gaitlink.cloud.ingest.keys import KEYRING
from gaitlink.cloud.ui.ratelimit import LoginLimiter

COOKIE = "gaitlink_ui"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 256
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True)
class UiSession:
    key_id: str
    csrf: str
    expires: float


class UiSessions:
    def __init__(self) -> None:
        self._by_token: OrderedDict[str, UiSession] = OrderedDict()
        self.evicted = 0

    def open(self, key: ApiKey) -> tuple[str, UiSession]:
        while len(self._by_token) >= MAX_SESSIONS:
            self._by_token.popitem(last=False)
            self.evicted += 1
        token = secrets.token_urlsafe(32)
        session = UiSession(key.id, secrets.token_urlsafe(32), time.monotonic() + SESSION_TTL_S)
        self._by_token[token] = session
        return token, session

    def get(self, token: str) -> UiSession | None:
        session = self._by_token.get(token)
        if session is not None and session.expires < time.monotonic():
            del self._by_token[token]
            return None
        return session

    def close(self, token: str) -> None:
        self._by_token.pop(token, None)


SESSIONS = web.AppKey("ui_sessions", UiSessions)
LIMITER = web.AppKey("ui_login_limiter", LoginLimiter)


class Login(BaseModel):
    key: str = Field(min_length=1, max_length=200)


def _same_origin(request: web.Request) -> None:
    # Browsers send Origin on POSTs and WebSocket upgrades; a different one is another
    # site's page trying to use this one (SameSite=strict already keeps the cookie away).
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Forbidden("requests must come from this site's own pages")


async def session_key(request: web.Request, roles: frozenset[str]) -> ApiKey:
    """The `auth` of the routes mounted under /ui/api: cookie, then CSRF, then role."""
    token = request.cookies.get(COOKIE, "")
    session = request.app[SESSIONS].get(token) if token else None
    if session is None:
        raise Unauthorized("not logged in: open /ui/ and log in with an API key")
    key = request.app[KEYRING].active(session.key_id)
    if key is None:
        request.app[SESSIONS].close(token)
        raise Unauthorized("the API key of this session was revoked: log in again")
    _same_origin(request)
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise Forbidden(f"missing or wrong {CSRF_HEADER}: reload the page")
    check_role(key, roles)
    return key


async def login(request: web.Request) -> web.Response:
    _same_origin(request)
    if request.content_type != "application/json":
        raise ApiError("send the key as JSON: {\"key\": \"glk_…\"}", status=415,
                       code="unsupported_media_type")  # fmt: skip
    limiter = request.app[LIMITER]
    address = request.remote or "unknown"
    if (wait := limiter.retry_after(address)) is not None:
        # Before the key is even parsed: a guesser learns nothing and costs no key check.
        raise web.HTTPTooManyRequests(
            text=f"too many failed log-ins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        body = Login.model_validate_json(await request.read())
    except ValidationError:
        raise ApiError('expected {"key": "glk_…"}', status=422, code="invalid_body") from None
    try:
        key = await verify_token(request.app, body.key.strip())
        check_role(key, READ)
    except (Unauthorized, Forbidden):
        limiter.failed(address)
        raise
    token, session = request.app[SESSIONS].open(key)
    response = web.json_response({"name": key.name, "role": key.role, "csrf": session.csrf})
    response.set_cookie(
        COOKIE, token, path="/ui", httponly=True, samesite="Strict", secure=request.secure,
        max_age=SESSION_TTL_S,
    )  # fmt: skip
    return response


async def whoami(request: web.Request) -> web.Response:
    # Not logged in is an answer here, not an error: the page then shows the log-in form.
    try:
        key = await session_key(request, READ)
    except Unauthorized:
        return web.json_response({"logged_in": False})
    session = request.app[SESSIONS].get(request.cookies[COOKIE])
    return web.json_response(
        {"logged_in": True, "name": key.name, "role": key.role, "csrf": session.csrf}
    )


async def logout(request: web.Request) -> web.Response:
    await session_key(request, READ)
    request.app[SESSIONS].close(request.cookies[COOKIE])
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/ui")
    return response
