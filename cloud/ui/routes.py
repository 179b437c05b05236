"""The /ui routes: the pages, log-in, and the researcher's /v1 routes under /ui/api/v1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from aiohttp import web

from gaitlink.cloud.api.endpoint import READ, Route, register
from gaitlink.cloud.ingest.keys import METRICS
from gaitlink.cloud.ui import auth
from gaitlink.cloud.ui.ratelimit import LoginLimiter, login_metrics

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/ui/api"
# Only this site's own files: no CDN, no inline script, no framing by others.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
)


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith("/ui") and not response.prepared:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


def setup_ui(app: web.Application, api_routes: Iterable[Route]) -> None:
    app[auth.SESSIONS] = auth.UiSessions()
    app[auth.LIMITER] = LoginLimiter()
    app.middlewares.append(security_headers)
    app.router.add_get("/ui", _redirect)
    app.router.add_get("/ui/", _page)
    app.router.add_post("/ui/login", auth.login)
    app.router.add_get("/ui/session", auth.whoami)
    app.router.add_post("/ui/logout", auth.logout)
    app.router.add_static("/ui/static", STATIC, follow_symlinks=False)
    # What a researcher or an admin may use, through the same views and models as /v1;
    # each route's roles are checked against the session's key as on /v1. Routes a device
    # key may call (ingest) or open to all keys (the OpenAPI document) are not for pages.
    mine = [r for r in api_routes if r.roles is not None and r.roles <= READ]
    register(app, mine, prefix=API_PREFIX, auth=auth.session_key)
    app.cleanup_ctx.append(_login_metrics)


async def _login_metrics(app: web.Application) -> AsyncIterator[None]:
    # After the ingest's own contexts (routes are set up after they are listed): METRICS exists.
    limiter = app[auth.LIMITER]
    app[METRICS].add_source(lambda: login_metrics(limiter))
    yield
