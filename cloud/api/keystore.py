"""API keys: created once, shown once, stored only as scrypt hashes in a 0600 JSON file.

A key reads `glk_<id>_<secret>`. The id finds the record without trying every hash; the
secret (32 random bytes) is checked against its scrypt hash. scrypt costs ~50 ms on purpose,
so the service checks a key once and then remembers a SHA-256 of it in memory (never on
disk) until the file changes: a revocation is seen at the next request.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from gaitlink.cloud.api.errors import Unauthorized
from gaitlink.secrets import SecretError, read_secret, write_secret

Role = Literal["device", "researcher", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
PREFIX = "glk"
# RFC 7914's interactive parameters: 16 MiB and tens of ms per check.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class KeyFileError(ValueError):
    """The key file is unsafe or unreadable; the text says what to do."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: str
    created: str
    salt: str
    hash: str
    # A device key speaks for this one device only.
    device: str | None = None
    revoked: str | None = None

    def public(self) -> dict[str, str | None]:
        """What `apikey list` shows: everything but the hash material."""
        return {k: v for k, v in asdict(self).items() if k not in ("salt", "hash")}


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def split_key(token: str) -> tuple[str, str]:
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        raise Unauthorized("malformed API key: expected 'Authorization: Bearer glk_…'")
    return key_id, secret


class KeyFile:
    """The key records on disk; every change is an atomic replace of a 0600 file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[ApiKey]:
        if not self.path.exists():
            return []
        try:
            text = read_secret(self.path, "API key file")
        except SecretError as exc:
            raise KeyFileError(str(exc)) from None
        try:
            return [ApiKey(**record) for record in json.loads(text)["keys"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"API key file {self.path} is damaged: {exc}") from None

    def create(self, name: str, role: str, device: str | None = None) -> str:
        """Add a key; returns the key itself, which exists nowhere else afterwards."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if (role == "device") != (device is not None):
            raise ValueError("a device key needs --device ID, and only a device key takes one")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        record = ApiKey(
            id=key_id,
            name=name,
            role=role,
            created=_now(),
            salt=salt.hex(),
            hash=_scrypt(secret, salt).hex(),
            device=device,
        )
        with self._locked():
            self._save([*self.load(), record])
        return f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        with self._locked():
            keys = self.load()
            for i, key in enumerate(keys):
                if key.id == key_id and key.revoked is None:
                    keys[i] = replace(key, revoked=_now())
                    self._save(keys)
                    return keys[i]
        raise KeyError(f"no active API key with id {key_id!r} (see: gaitlink apikey list)")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Two `apikey` commands at once must not lose each other's change.
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)

    def _save(self, keys: list[ApiKey]) -> None:
        # 0600 from the start and replaced atomically: no moment at which others could read it.
        write_secret(self.path, json.dumps({"keys": [asdict(k) for k in keys]}, indent=1))


class KeyRing:
    """The service's view of the key file, re-read when the file changes."""

    def __init__(self, key_file: KeyFile, *, recheck_s: float = 1.0) -> None:
        self._file = key_file
        self._recheck_s = recheck_s
        self._checked_at = -1e9
        self._signature: tuple[int, int, int] | None = None
        self._keys: dict[str, ApiKey] = {}
        # key id -> SHA-256 of a secret that passed scrypt; cleared when the file changes.
        self._verified: dict[str, bytes] = {}
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self._recheck_s:
            return
        self._checked_at = now
        try:
            st = self._file.path.stat()
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            signature = None
        if signature == self._signature and not force:
            return
        self._keys = {k.id: k for k in self._file.load() if k.revoked is None}
        self._verified.clear()
        self._signature = signature

    def lookup(self, token: str) -> tuple[ApiKey, str, bytes | None]:
        """The key a token names, its secret, and the remembered digest if checked before."""
        self.refresh()
        key_id, secret = split_key(token)
        key = self._keys.get(key_id)
        if key is None:
            if not self._keys:
                raise Unauthorized("no API key is configured: create one with `gaitlink apikey`")
            raise Unauthorized("unknown or revoked API key")
        return key, secret, self._verified.get(key_id)

    def verify(self, token: str) -> ApiKey:
        """Blocking (scrypt on first use of a key): call it off the event loop then."""
        key, secret, remembered = self.lookup(token)
        digest = hashlib.sha256(secret.encode()).digest()
        if remembered is not None:
            if hmac.compare_digest(remembered, digest):
                return key
            raise Unauthorized("wrong API key")
        if not hmac.compare_digest(_scrypt(secret, bytes.fromhex(key.salt)).hex(), key.hash):
            raise Unauthorized("wrong API key")
        self._verified[key.id] = digest
        return key

    def active(self, key_id: str) -> ApiKey | None:
        """The key with this id unless it was revoked (a login session re-checks it)."""
        self.refresh()
        return self._keys.get(key_id)

    def needs_scrypt(self, token: str) -> bool:
        try:
            return self.lookup(token)[2] is None
        except Unauthorized:
            return False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
