"""API keys on disk: hashed, 0600, revocable, and never printed but once."""

import json
import os
import stat
import subprocess
import sys

import pytest

from gaitlink.cloud.api.errors import Unauthorized
from gaitlink.cloud.api.keystore import KeyFile, KeyFileError, KeyRing


def _gaitlink(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "gaitlink.tools.cli", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_keyfile__stores_only_a_hash_in_a_0600_file(tmp_path):
    keys = KeyFile(tmp_path / "state" / "keys.json")
    key = keys.create("alice", "researcher")
    text = keys.path.read_text()
    secret = key.split("_", 2)[2]
    assert secret not in text and key not in text
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    (record,) = json.loads(text)["keys"]
    assert record["role"] == "researcher" and len(record["hash"]) == 64


def test_keyring__accepts_the_key_and_refuses_a_changed_one(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    key = keys.create("alice", "admin")
    ring = KeyRing(keys)
    assert ring.needs_scrypt(key)
    assert ring.verify(key).role == "admin"
    assert not ring.needs_scrypt(key)  # remembered: the next check is cheap
    assert ring.verify(key).name == "alice"
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "glk_000000000000_x", "x"):
        with pytest.raises(Unauthorized):
            ring.verify(wrong)


def test_keyring__sees_a_revocation_at_once(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    key = keys.create("bob", "researcher")
    other = keys.create("eve", "researcher")
    ring = KeyRing(keys, recheck_s=0)
    ring.verify(key)
    keys.revoke(key.split("_")[1])
    with pytest.raises(Unauthorized, match="revoked"):
        ring.verify(key)
    assert ring.verify(other).name == "eve"


def test_keyfile__refuses_a_file_others_can_read(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    keys.create("alice", "admin")
    os.chmod(keys.path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        keys.load()


def test_keyfile__device_keys_name_their_device(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    with pytest.raises(ValueError, match="--device"):
        keys.create("d", "device")
    with pytest.raises(ValueError, match="--device"):
        keys.create("r", "researcher", device="dev-1")
    with pytest.raises(ValueError, match="role"):
        keys.create("x", "root")


def test_apikey_cli__create_prints_the_key_once_list_never(tmp_path):
    path = tmp_path / "keys.json"
    created = _gaitlink("apikey", "--keys", str(path), "create", "--name", "lab", "--role", "admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("glk_") and key not in created.stderr
    assert KeyRing(KeyFile(path)).verify(key).name == "lab"
    listed = _gaitlink("apikey", "--keys", str(path), "list")
    assert listed.returncode == 0 and "lab" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout + listed.stderr
    key_id = key.split("_")[1]
    revoked = _gaitlink("apikey", "--keys", str(path), "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "lab" not in _gaitlink("apikey", "--keys", str(path), "list").stdout
    assert "lab" in _gaitlink("apikey", "--keys", str(path), "list", "--all").stdout


def test_apikey_cli__bad_input_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "keys.json"
    again = _gaitlink("apikey", "--keys", str(path), "revoke", "nope")
    assert again.returncode == 2 and "no active API key" in again.stderr
    bad_device = _gaitlink(
        "apikey", "--keys", str(path), "create", "--name", "d", "--role", "device",
        "--device", "Not An Id",
    )  # fmt: skip
    assert bad_device.returncode == 2 and "not a device id" in bad_device.stderr
    path.write_text('{"keys": []}')
    os.chmod(path, 0o644)
    loose = _gaitlink("apikey", "--keys", str(path), "list")
    assert loose.returncode == 2 and "chmod 600" in loose.stderr
    for result in (again, bad_device, loose):
        assert "Traceback" not in result.stderr
