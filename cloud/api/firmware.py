"""GET /firmware/{version}/{file}: the files of a firmware release, for devices taking
an update (docs/protocol.md §3.5).

Open without a key: a device has no API key, and a release holds no secret (compiled
firmware modules and their manifest). What makes a download safe is on the device: every
file must match the size and sha256 of the offer it verified with its own key.
"""

from __future__ import annotations

import re

from aiohttp import web

from gaitlink.cloud.api.errors import ApiError
from gaitlink.cloud.ingest.keys import SETTINGS
from gaitlink.cloud.protocol.ota import FILE_PATTERN, MANIFEST, VERSION_PATTERN

_VERSION = re.compile(VERSION_PATTERN)
_FILE = re.compile(FILE_PATTERN)


class ReleaseFileNotFound(ApiError):
    status = 404
    code = "not_found"


async def release_file(request: web.Request, key: None, version: str, file: str):
    return _serve(request, version, file)


async def release_file_in_folder(
    request: web.Request, key: None, version: str, folder: str, file: str
):
    return _serve(request, version, f"{folder}/{file}")


def _serve(request: web.Request, version: str, path: str) -> web.StreamResponse:
    if not _VERSION.match(version) or not (_FILE.match(path) or path == MANIFEST):
        raise ApiError(f"{version}/{path}: not a release file name", code="invalid_parameter")
    found = request.app[SETTINGS].firmware_dir / version / path
    if not found.is_file():
        raise ReleaseFileNotFound(f"no file {path} in firmware release {version}")
    return web.FileResponse(found, headers={"Content-Type": "application/octet-stream"})
