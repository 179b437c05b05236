"""Views of /v1/sessions: recording sessions through the HTTP API, as `gaitlink session`.

The registry (SQLite) is the record; each change is also written to InfluxDB's `session`
measurement. If InfluxDB refuses, the session stays recorded and the answer is 503 saying
so: `gaitlink session sync` (or a later change) writes it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from aiohttp import web

from gaitlink.cloud.api.errors import ApiError, StoreUnavailable
from gaitlink.cloud.api.keystore import ApiKey
from gaitlink.cloud.api.models import (
    SessionList,
    SessionOut,
    SessionQuery,
    SessionStart,
    SessionStop,
)
from gaitlink.cloud.influx.client import InfluxError
from gaitlink.cloud.ingest.keys import INFLUX, SESSIONS
from gaitlink.cloud.registry.sessions import Session, SessionError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SessionNotFound(ApiError):
    status = 404
    code = "session_not_found"


def _us(when: datetime | None) -> int:
    if when is None:
        return time.time_ns() // 1000
    if when.tzinfo is None:
        raise ApiError("times need a zone (Z or +02:00)", status=422, code="invalid_body")
    return (when - _EPOCH) // timedelta(microseconds=1)


def _out(session: Session) -> SessionOut:
    return SessionOut(**{name: getattr(session, name) for name in Session.__slots__})


async def _publish(request: web.Request, session: Session) -> SessionOut:
    try:
        await request.app[INFLUX].write(session.line())
    except InfluxError as exc:
        raise StoreUnavailable(
            f"session {session.id} is recorded, but InfluxDB refused it ({exc}); "
            "`gaitlink session sync` writes it"
        ) from None
    return _out(session)


async def start_session(request: web.Request, key: ApiKey, body: SessionStart) -> SessionOut:
    try:
        session = request.app[SESSIONS].start(
            subject=body.subject, task=body.task, task_id=body.task_id,
            task_info=body.task_info, device=body.device, placement=body.placement,
            side=body.side, start_us=_us(body.start),
        )  # fmt: skip
    except SessionError as exc:
        status = 409 if "already in open session" in str(exc) else 422
        raise ApiError(str(exc), status=status, code="invalid_session") from None
    return await _publish(request, session)


def find_session(store, session_id: str) -> Session:
    try:
        return store.get(int(session_id))
    except (ValueError, SessionError):
        raise SessionNotFound(f"no session {session_id}: GET /v1/sessions lists them") from None


async def stop_session(
    request: web.Request, key: ApiKey, session_id: str, body: SessionStop
) -> SessionOut:
    store = request.app[SESSIONS]
    number = find_session(store, session_id).id
    try:
        session = store.stop(number, end_us=_us(body.end))
    except SessionError as exc:
        raise ApiError(str(exc), status=409, code="invalid_session") from None
    return await _publish(request, session)


async def list_sessions(request: web.Request, key: ApiKey, query: SessionQuery) -> SessionList:
    sessions = request.app[SESSIONS].list(
        subject=query.subject, task=query.task, open_only=query.open
    )
    return SessionList(sessions=[_out(s) for s in sessions])
