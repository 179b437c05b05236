"""The ingest when its own set-up is wrong: it must hold the data, not throw it away."""

import time

import numpy as np

from gaitlink.tools import services
from gaitlink.tools.stack import free_port, influx_query
from tests.cloud.frames import encode_frame
from tests.integration.pipeline import count, gateway_publisher, publish_all, wait_until


def _frames(device: str, n: int):
    rng = np.random.default_rng(5)
    return [
        (
            f"gaitlink/v1/{device}/imu",
            encode_frame(
                rng.integers(-9, 9, (50, 6), dtype=np.int16),
                seq=s,
                t0_us=1_793_000_000_000_000 + s * 500_000,
            ),
        )
        for s in range(n)
    ]


def _health(port):
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_missing_database_stalls_and_recovers_without_losing_data(fresh_stack, tmp_path):
    port = free_port()
    ingest = services.ingest(fresh_stack, tmp_path, http_port=port, database="later")
    ingest.start()
    try:
        with gateway_publisher(fresh_stack, "setup-1") as client:
            publish_all(client, _frames("setup-1", 10))
        wait_until(lambda: _health(port)[0] == 503, 30, "health to report the stall")
        _, body = _health(port)
        assert any("database not found" in p for p in body["problems"]), body
        assert services.ingest_metrics(port)["dead_letters"] == 0
        fresh_stack.create_database("later")  # the operator's fix

        def written() -> int:
            rows = influx_query(fresh_stack, "SELECT count(q) FROM imu", database="later")
            return rows[0]["count"] if rows else 0

        wait_until(lambda: written() == 500, 60, "the held frames to be written")
        # The points are visible a moment before the ingest's write call returns.
        wait_until(lambda: _health(port)[0] == 200, 10, "health to clear")
    finally:
        ingest.stop()


def test_failing_dead_letter_store_stops_the_service_and_keeps_the_data(fresh_stack, tmp_path):
    port = free_port()
    # The store's folder for this device is taken by a file: the first put fails.
    blocked = tmp_path / "dl-blocked"
    blocked.mkdir()
    (blocked / "setup-2").write_text("not a folder")
    argv_extra = ("--dead-letters", str(blocked))
    ingest = services.ingest(fresh_stack, tmp_path, http_port=port, extra=argv_extra)
    ingest.start()
    with gateway_publisher(fresh_stack, "setup-2") as client:
        publish_all(client, [("gaitlink/v1/setup-2/imu", b"not a frame")])
        deadline = time.monotonic() + 30
        while ingest.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ingest.process.poll() is not None, "ingest kept running without its loop"
        assert "ingest loop failed" in ingest.log_since_start()
        # Restarted with a working store, the held message is delivered as a dead letter.
        good = services.ingest(fresh_stack, tmp_path, http_port=port)
        good.start()
        try:
            publish_all(client, _frames("setup-2", 2))
            wait_until(lambda: count(fresh_stack, "imu", "WHERE device='setup-2'") == 100, 30,
                       "frames after the restart")  # fmt: skip
            assert services.ingest_metrics(port)["dead_letters_by_reason"] == {"short": 1}
        finally:
            good.stop()
