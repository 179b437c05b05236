# HMAC-SHA256 (RFC 2104) over hashlib.sha256: MicroPython has no hmac module. Config and
# OTA messages are signed with the device's own key (docs/protocol.md §3.3, §3.5). The
# signed message comes in parts (str or bytes), hashed one after the other: joining them
# first would copy the whole text into a new block.
import hashlib
from binascii import hexlify

_BLOCK = 64  # SHA-256 block size, bytes


def hmac_sha256(key, parts):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    for p in parts:
        inner.update(p)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    outer.update(inner.digest())
    return outer.digest()


def verify(key, parts, sig_hex):
    # sig_hex: str or bytes of hex digits. Compares every byte (no early exit), so the
    # time taken does not tell an attacker how much of a forged signature was right.
    good = hexlify(hmac_sha256(key, parts))
    if isinstance(sig_hex, str):
        sig_hex = sig_hex.encode()
    if len(sig_hex) != len(good):
        return False
    diff = 0
    for i in range(len(good)):
        diff |= good[i] ^ sig_hex[i]
    return diff == 0
