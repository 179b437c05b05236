"""Fixtures of the firmware tests (helpers live in tests/firmware/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gaitlink.tools.device import build_firmware
from gaitlink.tools.stack import free_port
from tests.firmware.helpers import Mosquitto


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.micropython)


@pytest.fixture(scope="session")
def fw_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Firmware + simulator compiled to .mpy, as deployed."""
    return build_firmware(tmp_path_factory.mktemp("fw"))


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto of this test's own, on a free loopback port, persistence on."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
