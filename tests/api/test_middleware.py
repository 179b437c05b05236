"""The error middleware on its own: the unexpected is a logged 500 that quotes its id."""

import asyncio
import logging

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gaitlink.cloud.api.errors import DeviceNotFound
from gaitlink.cloud.api.middleware import errors_and_request_id


async def _get(path, headers=None):
    async def broken(request):
        raise RuntimeError("a bug with a secret-free message")

    async def missing(request):
        raise DeviceNotFound("no data from device 'x'")

    app = web.Application(middlewares=[errors_and_request_id])
    app.router.add_get("/broken", broken)
    app.router.add_get("/missing", missing)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(path, headers=headers or {})
        return resp.status, resp.headers.get("X-Request-Id"), await resp.json()


def test_middleware__an_unexpected_error_is_a_500_logged_with_its_request_id(caplog):
    with caplog.at_level(logging.ERROR, logger="gaitlink.cloud.api.middleware"):
        status, request_id, body = asyncio.run(_get("/broken"))
    assert status == 500 and body["error"] == "internal"
    assert request_id in body["detail"]
    (record,) = caplog.records
    assert request_id in record.getMessage() and record.exc_info[0] is RuntimeError


def test_middleware__domain_errors_keep_their_status_and_a_caller_id_is_kept():
    status, request_id, body = asyncio.run(_get("/missing", {"X-Request-Id": "abc-123"}))
    assert (status, request_id) == (404, "abc-123")
    assert body == {"error": "device_not_found", "detail": "no data from device 'x'"}
    # An id that is not plainly safe to log is replaced, not echoed.
    _, replaced, _ = asyncio.run(_get("/missing", {"X-Request-Id": "evil\tid " * 10}))
    assert replaced and "evil" not in replaced
