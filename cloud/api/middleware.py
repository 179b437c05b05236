"""The one middleware: a request id on every response, and every error as
`{"error": code, "detail": text}`. The unexpected is logged with its traceback and id."""

from __future__ import annotations

import logging
import re
import secrets

from aiohttp import web

from gaitlink.cloud.api.errors import ApiError

log = logging.getLogger(__name__)

REQUEST_ID = "X-Request-Id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")


@web.middleware
async def errors_and_request_id(request: web.Request, handler) -> web.StreamResponse:
    # A caller's own id is kept (it ties our log to theirs) if it is plainly safe to log.
    given = request.headers.get(REQUEST_ID, "")
    request_id = given if _CLIENT_ID.match(given) else secrets.token_hex(8)
    try:
        response = await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.code, exc.detail)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="gaitlink"'
    except web.HTTPException as exc:
        # aiohttp's own (404 no such route, 405, 413 body too large): same shape.
        code = exc.reason.lower().replace(" ", "_")
        response = _error(exc.status, code, exc.text if exc.text != exc.reason else exc.reason)
        for name in ("Allow", "Retry-After"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
    except Exception:
        log.exception("request %s %s failed (request id %s)", request.method, request.path,
                      request_id)  # fmt: skip
        response = _error(500, "internal", f"internal error; quote request id {request_id}")
    if not response.prepared:
        response.headers[REQUEST_ID] = request_id
    return response


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)
