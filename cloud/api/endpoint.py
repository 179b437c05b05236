"""One route of the API as data, and the adapter that serves it.

A `Route` names its method, path, the roles that may call it, and the models of its query,
body and response. `register` turns routes into aiohttp handlers that check the key, parse
and validate the input, call the view with typed arguments and serialise the model it
returns; `openapi.py` writes the document from the same routes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gaitlink.cloud.api.errors import ApiError, Forbidden, Unauthorized
from gaitlink.cloud.api.keystore import ROLES, ApiKey
from gaitlink.cloud.ingest.keys import KEYRING
from gaitlink.cloud.protocol.messages import DEVICE_ID_PATTERN

ANY_KEY = frozenset(ROLES)
READ = frozenset({"researcher", "admin"})
INGEST = frozenset({"device", "admin"})
ADMIN = frozenset({"admin"})

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN.rstrip("$") + r"\Z")

View = Callable[..., Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    view: View
    summary: str
    # None: open to anyone (health, and metrics unless configured otherwise).
    roles: frozenset[str] | None = READ
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # None: the view returns its own web.StreamResponse (metrics text, the WebSocket).
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    # Error statuses whose body is still `response` (a degraded /health), not ErrorBody.
    same_body_statuses: tuple[int, ...] = ()
    description: str = ""
    content_type: str = "application/json"


Authenticate = Callable[[web.Request, frozenset[str]], Awaitable[ApiKey]]


def register(
    app: web.Application,
    routes: Iterable[Route],
    *,
    prefix: str = "",
    auth: Authenticate | None = None,
) -> None:
    """Serve `routes`; the browser UI mounts the same routes under its prefix with its own
    (cookie and CSRF) authentication, so both speak through one set of views."""
    for route in routes:
        app.router.add_route(route.method, prefix + route.path, _serve(route, auth or authenticate))


def _serve(
    route: Route, auth: Authenticate
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        key = None if route.roles is None else await auth(request, route.roles)
        kwargs: dict[str, object] = {}
        for name, value in request.match_info.items():
            if name == "device" and not _DEVICE_ID.match(value):
                raise ApiError(f"{value!r} is not a device id", code="invalid_parameter")
            kwargs[name] = value
        if route.query is not None:
            kwargs["query"] = _validate(route.query, dict(request.query), "invalid_parameter")
        if route.body is not None:
            raw = await request.read()
            kwargs["body"] = _validate_json(route.body, raw)
        result = await route.view(request, key=key, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result  # the view chose its own response (metrics text, 503 health...)
        return web.Response(
            body=result.model_dump_json(), status=route.status, content_type="application/json"
        )

    handler.__name__ = route.view.__name__
    return handler


async def authenticate(request: web.Request, roles: frozenset[str]) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("this route needs an API key: send 'Authorization: Bearer <key>'")
    key = await verify_token(request.app, token.strip())
    check_role(key, roles)
    return key


async def verify_token(app: web.Application, token: str) -> ApiKey:
    keyring = app[KEYRING]
    if keyring.needs_scrypt(token):
        # The first check of a key costs ~50 ms of scrypt: not on the event loop.
        return await asyncio.to_thread(keyring.verify, token)
    return keyring.verify(token)


def check_role(key: ApiKey, roles: frozenset[str]) -> None:
    if key.role not in roles:
        wanted = ", ".join(sorted(roles))
        raise Forbidden(f"this route needs a key with role {wanted}; this key's is {key.role}")


def _validate(model: type[BaseModel], data: dict, code: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(describe(exc), code=code) from None


def _validate_json(model: type[BaseModel], raw: bytes) -> BaseModel:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(describe(exc), status=422, code="invalid_body") from None


def describe(exc: ValidationError) -> str:
    """Every problem of a validation error, each with the name of its field."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )
