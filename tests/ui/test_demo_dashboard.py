"""`gaitlink demo` prints the live view's URL and a key to log in with, only to a terminal."""

from __future__ import annotations

import io

from gaitlink.cloud.api.keystore import KeyFile, KeyRing
from gaitlink.tools import demo
from gaitlink.tools.services import api_keys_file


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_demo_dashboard__terminal_gets_a_researcher_key_once(tmp_path, monkeypatch) -> None:
    out = _Terminal()
    monkeypatch.setattr("sys.stdout", out)
    demo._print_dashboard("http://127.0.0.1:8123/ui/", tmp_path)
    text = out.getvalue()
    assert "http://127.0.0.1:8123/ui/" in text
    key = text.split("(shown once): ")[1].strip()
    assert KeyRing(KeyFile(api_keys_file(tmp_path))).verify(key).role == "researcher"


def test_demo_dashboard__no_key_when_stdout_is_not_a_terminal(tmp_path, monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    demo._print_dashboard("http://127.0.0.1:8123/ui/", tmp_path)
    assert "glk_" not in out.getvalue() and "apikey --keys" in out.getvalue()
    assert KeyFile(api_keys_file(tmp_path)).load() == []
