"""`gaitlink gateway run` as an operator meets it: errors are one clear line, exit 2."""

import json
import os
import subprocess
import sys
import uuid

from gaitlink.tools.stack import free_port


def _gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", "gateway", "run", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=None if env is None else {**os.environ, **env},
    )


def test_gateway_cli__unreachable_broker_is_a_clear_error():
    result = _gateway("--cloud", f"127.0.0.1:{free_port()}", "--duration", "1")
    assert result.returncode == 2
    assert "cannot reach MQTT broker" in result.stderr and "Traceback" not in result.stderr


def test_gateway_cli__bad_address_names_the_flag():
    result = _gateway("--site", "http://x:1")
    assert result.returncode == 2 and "--site" in result.stderr


def test_gateway_cli__runs_for_a_bounded_time_and_reports(stack, tmp_path):
    # An id of its own: a shared broker keeps each session's queue for its next run.
    result = _gateway(
        "--site", stack.site_url, "--cloud", stack.cloud_url, "--duration", "2.5",
        "--id", f"cli-{uuid.uuid4().hex[:8]}", "--spool-dir", str(tmp_path), "--http", "",
        env=stack.env(),  # the accounts: usernames and password files, as `stack up` prints
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    counters = json.loads(result.stdout.strip().splitlines()[-1])["gateway"]
    # Whatever it was handed (on a shared broker: other tests' retained status messages)
    # it delivered before it exited.
    assert counters["time_beacons"] >= 1
    assert counters["uplink_delivered"] == counters["uplink_received"]
    assert counters["pending_forwards"] == 0 and counters["spool_messages"] == 0
