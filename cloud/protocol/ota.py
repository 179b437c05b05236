"""Firmware updates over the air (docs/protocol.md §3.5): the release manifest, the signed
offer a device gets on its `ota` topic, and the update state it reports in its status.

The offer is a JSON object sent as a string, signed like a config (§3.3) but over
`"ota\\n" + offer`, so a config signature can never pass for an offer signature. It names
the release manifest by size and sha256, and the manifest lists every file with its size
and sha256: the device checks each file as it streams it, so the signature covers every
byte it will run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "manifest.txt"
MAGIC = "gaitlink-release"
# A release version is a label (semver recommended); it names a directory and a URL part.
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$"
# The files of a release: compiled modules, at most one directory deep (drivers/).
FILE_PATTERN = r"^[a-z0-9_]{1,32}(/[a-z0-9_]{1,32})?\.mpy$"
_VERSION = re.compile(VERSION_PATTERN)
_FILE = re.compile(FILE_PATTERN)
STATES = (
    "offered",  # registry only: published, the device has not answered yet
    "downloading",
    "staged",  # every file verified beside the running app, the swap committed
    "trial",  # the new version booted, on probation
    "confirmed",
    "rolled_back",  # the device went back to the version it ran before (error says why)
    "rejected",  # the offer was refused; the device runs what it ran (error says why)
    "current",  # the device already runs the offered version
)


class OtaError(ValueError):
    """A release or offer that cannot be built; the text says why."""


def check_version(version: str) -> str:
    if not _VERSION.match(version):
        raise OtaError(
            f"release version {version!r}: 1-32 of letters, digits and . + _ -, starting "
            "with a letter or digit (e.g. 0.2.0)"
        )
    return version


def check_file(path: str) -> str:
    if not _FILE.match(path):
        raise OtaError(f"release file {path!r}: a .mpy module, at most one directory deep")
    return path


def manifest_text(version: str, files: list[tuple[str, bytes]]) -> str:
    """The release manifest: a line with the version, then one line per file, `sha256 size
    path`. Lines, not JSON: a device reads it a line at a time, never whole."""
    check_version(version)
    lines = [f"{MAGIC} {version}"]
    for path, data in sorted(files):
        lines.append(f"{hashlib.sha256(data).hexdigest()} {len(data)} {check_file(path)}")
    return "\n".join(lines) + "\n"


def parse_manifest(text: str) -> tuple[str, list[tuple[str, int, str]]]:
    """(version, [(path, size, sha256)]) of a manifest."""
    lines = text.splitlines()
    head = lines[0].split(" ") if lines else []
    if len(head) != 2 or head[0] != MAGIC:
        raise OtaError("not a release manifest (first line)")
    files = []
    for line in lines[1:]:
        parts = line.split(" ")
        if len(parts) != 3 or not parts[1].isdigit():
            raise OtaError(f"manifest line {line!r}: expected `sha256 size path`")
        files.append((check_file(parts[2]), int(parts[1]), parts[0]))
    return check_version(head[1]), files


def offer_text(manifest: str, number: int, url: str, confirm_s: int, deadline_s: int) -> str:
    """What a device verifies: the release (its manifest's size and sha256, which name every
    file's) and this rollout's terms. Small, so it never strains a device's heap."""
    if not 1 <= confirm_s < deadline_s <= 86400:
        raise OtaError("need 1 <= --confirm-s < --deadline-s <= 86400")
    data = manifest.encode()
    body = {
        "n": number,
        "version": parse_manifest(manifest)[0],
        "url": url.rstrip("/") + "/",
        "confirm_s": confirm_s,
        "deadline_s": deadline_s,
        "manifest": [len(data), hashlib.sha256(data).hexdigest()],
    }
    return json.dumps(body, separators=(",", ":"))


def offer_signature(key: bytes, text: str) -> str:
    return hmac.new(key, b"ota\n" + text.encode(), hashlib.sha256).hexdigest()


def offer_message(key: bytes, text: str) -> bytes:
    return json.dumps({"offer": text, "sig": offer_signature(key, text)}).encode()


class OtaReport(BaseModel):
    """The `ota` object of a device's status (§3.2): where its last offer stands."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    n: int | None = Field(default=None, ge=0)
    version: str | None = Field(default=None, max_length=32)
    state: Literal[STATES]  # type: ignore[valid-type]
    error: str | None = Field(default=None, max_length=200)
    gap_ms: int | None = None  # samples not taken across the update's reboot
