"""Log-in limits: the limiter's own logic (a fake clock), then 429 + Retry-After and the
/metrics counters on the real ingest process."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gaitlink.cloud.ui.ratelimit import LoginLimiter
from tests.api.service import api_service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_login_limiter__an_address_over_its_limit_waits_for_its_window():
    clock = Clock()
    limiter = LoginLimiter(window_s=60, per_address=3, global_limit=100, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1")
    clock.now += 20
    assert limiter.retry_after("10.0.0.1") == 40
    assert limiter.retry_after("10.0.0.2") is None  # another address is not held back
    clock.now += 40
    assert limiter.retry_after("10.0.0.1") is None
    assert limiter.limited_address == 1 and limiter.failures == 3


def test_login_limiter__the_global_limit_holds_across_addresses():
    clock = Clock()
    limiter = LoginLimiter(window_s=60, per_address=3, global_limit=5, clock=clock)
    for i in range(5):
        limiter.failed(f"10.0.0.{i}")
    assert limiter.retry_after("10.0.0.99") == 60
    assert limiter.limited_global == 1


def test_login_limiter__the_address_table_is_bounded_oldest_forgotten():
    clock = Clock()
    limiter = LoginLimiter(per_address=1, max_addresses=4, global_limit=10**6, clock=clock)
    for i in range(10):
        limiter.failed(f"10.0.1.{i}")
    assert limiter.addresses == 4 and limiter.evicted == 6
    assert limiter.retry_after("10.0.1.9") is not None  # the newest are remembered


@pytest.fixture(scope="module")
def api(stack, tmp_path_factory):
    with api_service(stack, tmp_path_factory.mktemp("ui-ratelimit")) as api:
        yield api


def _login(api, key: str):
    return api.call("/ui/login", method="POST", body={"key": api.keys.get(key, key)})


def test_ui_login__too_many_failures_get_429_with_retry_after_and_are_counted(api) -> None:
    assert _login(api, "researcher")[0] == 200  # successes do not count
    for _ in range(10):  # ratelimit.PER_ADDRESS
        assert _login(api, "glk_0000_wrong")[0] == 401
    status, headers, body = _login(api, "glk_0000_wrong")
    assert status == 429 and body["error"] == "too_many_requests", body
    assert 1 <= int(headers["retry-after"]) <= 60
    # A right key waits too: the limit is on the address, not on what it sends.
    assert _login(api, "researcher")[0] == 429
    metrics = _ui_metrics(api.port)
    assert metrics[("gaitlink_ui_login_failures_total", ())] == 10
    assert metrics[("gaitlink_ui_login_limited_total", (("limit", "address"),))] == 2
    assert metrics[("gaitlink_ui_login_addresses", ())] == 1


def _ui_metrics(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("gaitlink_ui_")
        for s in family.samples
    }
