"""The export's sink on its own: a full queue holds the writer back, and an abandoned
download frees it (the writer's next write raises instead of waiting for ever)."""

import asyncio
import threading

from gaitlink.cloud.api import export


def test_export_sink__a_full_queue_waits_and_abort_frees_the_writer(monkeypatch):
    monkeypatch.setattr(export, "CHUNK_BYTES", 4)
    outcome = []

    async def scenario():
        sink = export.QueueSink(asyncio.get_running_loop())

        def writer():
            try:
                for _ in range(export.QUEUE_CHUNKS + 5):
                    sink.write(b"abcd")
                outcome.append("finished")
            except Exception as exc:  # the type is what the test checks
                outcome.append(type(exc).__name__)

        thread = threading.Thread(target=writer)
        thread.start()
        while sink.queue.qsize() < export.QUEUE_CHUNKS:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert thread.is_alive() and outcome == []  # held back by the full queue
        sink.aborted = True
        await asyncio.to_thread(thread.join, 5)
        assert not thread.is_alive()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert outcome == ["_Aborted"]


def test_export_sink__counts_what_it_was_given(monkeypatch):
    async def scenario():
        sink = export.QueueSink(asyncio.get_running_loop())
        await asyncio.to_thread(sink.write, b"x" * 10)
        assert sink.tell() == 10 and sink.queue.empty()  # under a chunk: kept
        await asyncio.to_thread(sink.finish)
        assert await sink.queue.get() == b"x" * 10 and await sink.queue.get() == b""

    asyncio.run(asyncio.wait_for(scenario(), 30))
