"""Finding mosquitto and influxd, and the error that tells a user how to install them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitlink.tools.stack import MissingBinary, Stack, find_binary, state
from gaitlink.tools.stack.binaries import find_binaries


def test_find_binary__sbin_outside_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # A normal user's PATH on Debian lacks /usr/sbin, where mosquitto lives.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert find_binary("mosquitto").name == "mosquitto"
    assert find_binary("influxd").name == "influxd"


def test_find_binaries__missing_names_each_and_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingBinary) as raised:
        find_binaries(["influxd", "mosquitto", "mosquitto"], search_dirs=[str(tmp_path)])
    message = str(raised.value)
    assert "`influxd` and `mosquitto` not found" in message
    assert str(tmp_path) in message
    assert "sudo apt-get install influxdb mosquitto" in message
    assert "tools/setup.sh" in message


def test_find_binary__not_executable_is_missing(tmp_path: Path) -> None:
    (tmp_path / "mosquitto").write_text("not a program")
    with pytest.raises(MissingBinary, match="sudo apt-get install mosquitto"):
        find_binary("mosquitto", search_dirs=[str(tmp_path)])


def test_up__missing_binary_starts_nothing(tmp_path: Path) -> None:
    stack = Stack.on_free_ports(tmp_path / "stack", search_dirs=[])
    with pytest.raises(MissingBinary, match=r"tools/setup\.sh"):
        stack.up()
    assert state.load(stack.state_dir).processes == {}
