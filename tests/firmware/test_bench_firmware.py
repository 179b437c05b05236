"""`gaitlink bench firmware` (tools/bench/firmware.py): a short run checks its own result
against the simulator's truth; bad options are one line."""

from __future__ import annotations

import json
import subprocess
import sys

from gaitlink.tools.bench.firmware import to_markdown


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "bench", "firmware", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_bench_firmware__short_run_is_lossless_and_reports_cpu():
    # Warp 2, not the default 10: at 10 the sensor's FIFO covers only 85 ms of wall time,
    # which a loaded test host's stalls exceed (counted overflows, not a firmware fault).
    res = _bench("--rates", "100", "--seconds", "30", "--warp", "2", "--link-drops", "1", "--json")
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)
    assert row["ok"] and row["samples"] == row["samples_checked"] == 3000
    assert row["samples_wrong"] == 0 and row["missing_seqs"] == 0
    assert row["lost_on_device"] == 0 and row["ring_dropped"] == 0
    assert row["warp"] == 2 and row["connections"] >= 2  # the link was dropped once
    assert row["busy_us_per_sample"] > 0 and row["framing_us_per_sample"] > 0
    assert row["esp32_us_per_sample"] > 270  # at least the I2C transfer
    assert row["heap_total"] <= 102400 and row["heap_min_free"] > 4096
    assert 1 <= row["ring_peak"] <= row["ring_capacity"] and len(row["broker_down_s"]) == 1
    # the table a person reads is made from the same row (it once named keys no row had)
    assert f"| {row['ring_peak']}/{row['ring_capacity']} |" in to_markdown([row])


def test_bench_firmware__bad_rate_is_one_line():
    res = _bench("--rates", "100,300")
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "--rates" in res.stderr


def test_bench_broker__refuses_anonymous_and_lets_the_device_in(tmp_path):
    import paho.mqtt.client as mqtt

    from gaitlink.tools.bench.firmware import _Broker

    broker = _Broker(tmp_path / "broker", "bench-100")
    broker.start()

    def connack(account=None) -> str:
        codes = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.on_connect = lambda c, u, flags, reason, props: codes.append(str(reason))
        if account is not None:
            client.username_pw_set(account.username, account.password)
        client.connect("127.0.0.1", broker.port)
        for _ in range(100):
            if codes:
                break
            client.loop(0.05)
        client.disconnect()
        return codes[0] if codes else "no CONNACK"

    try:
        # the bench runs with the stack's site-broker accounts, as a deployment does
        assert connack() == "Not authorized"
        assert connack(broker.device) == "Success"
    finally:
        broker.stop()
