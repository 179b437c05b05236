"""GET /v1/sessions/{id}/export: a stopped session as LocoHub-layout parquet, streamed.

gaitlink.research writes the file (the `gaitlink export` code, window by window) in a
worker thread into a sink whose chunks go through a bounded queue to the response: at
most QUEUE_CHUNKS × CHUNK_BYTES wait in memory besides the window being written, and a
slow download slows the export instead of filling memory. The research extra (pandas,
pyarrow) is imported only here, when asked: the ingest runs without it and then says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from gaitlink.cloud.api.errors import ApiError, NoData, StoreUnavailable
from gaitlink.cloud.api.keystore import ApiKey
from gaitlink.cloud.api.sessions import find_session
from gaitlink.cloud.influx.client import InfluxError
from gaitlink.cloud.ingest.keys import SESSIONS, SETTINGS

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
QUEUE_CHUNKS = 8
CONTENT_TYPE = "application/vnd.apache.parquet"
_END = b""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # phase: one row per (cycle, phase point); time: the raw samples (docs/researchers.md)
    kind: Literal["phase", "time"] = "phase"
    all_cycles: bool = False


class _Aborted(Exception):
    """The download was abandoned: the export stops at its next write."""


class QueueSink:
    """A write-only binary file for pyarrow, on a worker thread, feeding an asyncio queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self._loop = loop
        self._buffer = bytearray()
        self._written = 0
        self.aborted = False
        self.closed = False

    def write(self, data) -> int:
        if self.aborted:
            raise _Aborted
        self._buffer += data
        self._written += len(data)
        if len(self._buffer) >= CHUNK_BYTES:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        """The file is complete (or failed): send what is left, then the end."""
        if self._buffer and not self.aborted:
            self._put(bytes(self._buffer))
        self._buffer.clear()
        self._put(_END)

    def _put(self, chunk: bytes) -> None:
        # Blocks this worker thread while the queue is full: the download sets the pace.
        future = asyncio.run_coroutine_threadsafe(self.queue.put(chunk), self._loop)
        while not self.aborted:
            with contextlib.suppress(TimeoutError):
                future.result(timeout=1.0)
                return
        future.cancel()

    def close(self) -> None:
        self.closed = True


def _write(sink: QueueSink, session, query: ExportQuery, settings) -> int:
    from datetime import timedelta

    from gaitlink.cloud.influx.sync import InfluxV1Sync
    from gaitlink.research.api import Research
    from gaitlink.research.export import export_phase, export_time

    research = Research(InfluxV1Sync(settings.influx()), chunk=timedelta(minutes=10),
                        progress=False)  # fmt: skip
    try:
        if query.kind == "phase":
            written, _ = export_phase(
                research, session.subject, session.task, sink, placement=session.placement,
                valid_only=not query.all_cycles, session=session.id,
            )  # fmt: skip
        else:
            written = export_time(research, session.subject, session.task, sink,
                                  placement=session.placement, session=session.id)  # fmt: skip
        return written
    finally:
        sink.finish()


async def session_export(
    request: web.Request, key: ApiKey, session_id: str, query: ExportQuery
) -> web.StreamResponse:
    session = find_session(request.app[SESSIONS], session_id)
    if session.end_us is None:
        raise ApiError(
            f"session {session.id} is still open: stop it, then export it",
            status=409, code="session_open",
        )  # fmt: skip
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ApiError(
            "this ingest has no parquet export: install gaitlink[research] beside it",
            status=501, code="not_installed",
        ) from None  # fmt: skip
    sink = QueueSink(asyncio.get_running_loop())
    task = asyncio.ensure_future(
        asyncio.to_thread(_write, sink, session, query, request.app[SETTINGS])
    )
    try:
        return await _stream(request, sink, task, session, query)
    finally:
        if not task.done():
            # The client went away (or the handler failed): stop the export at its next
            # write and free the worker thread if it waits on a full queue.
            sink.aborted = True
            while not sink.queue.empty():
                sink.queue.get_nowait()


async def _stream(request, sink: QueueSink, task, session, query) -> web.StreamResponse:
    first = await sink.queue.get()
    if first == _END:  # nothing written: say why as JSON, not as an empty file
        try:
            await task
        except (LookupError, ValueError) as exc:
            raise NoData(f"nothing to export: {exc}") from None
        except InfluxError as exc:
            raise StoreUnavailable(f"InfluxDB did not answer the export's query: {exc}") from None
        raise NoData(f"nothing to export from session {session.id}")
    name = _SAFE.sub("_", f"session-{session.id}_{session.subject}_{session.task}_{query.kind}")
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPE,
            "Content-Disposition": f'attachment; filename="{name}.parquet"',
        }
    )
    await response.prepare(request)
    chunk = first
    while chunk != _END:
        await response.write(chunk)
        chunk = await sink.queue.get()
    try:
        await task
    except Exception:
        # Part of the file is sent already: cut the connection (the client's copy has no
        # parquet footer and does not open) and log why.
        log.exception("export of session %s failed after the download began", session.id)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
