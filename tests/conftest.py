"""Fixtures shared by every test room: a real local stack started by tools/stack.

Each stack gets its own temp state dir and free loopback ports, so parallel and repeated
runs never collide. Missing mosquitto/influxd fail loudly with the install hint: CI
installs them, so a skip would only hide a broken CI image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gaitlink.tools.stack import MissingBinary, Stack

# Hypothesis' timing checks (per-example deadline, "too slow" data generation) measure the
# machine, not the code: on a loaded 2-core runner they failed tests whose properties held.
# Speed has its benchmarks; here only the properties count.
settings.register_profile("gaitlink", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gaitlink")

_STACK_FIXTURES = frozenset({"stack", "fresh_stack"})


def _running_stack(state_dir: Path) -> Iterator[Stack]:
    stack = Stack.on_free_ports(state_dir)
    try:
        stack.up()
    except MissingBinary as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Site broker, cloud broker and InfluxDB shared by the whole session: do not kill them."""
    yield from _running_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of this test's own, for tests that kill, restart or fill components."""
    yield from _running_stack(tmp_path / "stack")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that use a stack fixture get the `stack` marker, so `-m "not stack"` runs
    # without servers.
    for item in items:
        if _STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
