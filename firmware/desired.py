# A desired config (docs/protocol.md §3.3), checked before anything changes: HMAC over the
# bytes received with the device's key, a version newer than the running one, and every
# field by rules.py. Loaded on its own, and unloaded before devconfig.py applies the result:
# the two never take the heap at the same time (a 100 kB heap has room for one of them).
import json

import rules
import sign

REMOTE = rules.REMOTE


class Rejected(Exception):
    # args: (reason, desired version or None when the payload did not say)
    pass


def _unpack(payload):
    try:
        msg = json.loads(payload)
        version = msg["version"]
        text = msg["config"]
        sig = msg["sig"]
    except (ValueError, KeyError, TypeError):
        raise Rejected("bad_payload", None) from None
    if not isinstance(text, str) or not isinstance(sig, str):
        raise Rejected("bad_payload", None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Rejected("bad_payload", None)
    return version, text, sig


def check(cfg, key, payload, max_spf):
    # None if this version already runs; else applies the values to cfg in place and
    # returns (version, values, undo) where undo puts cfg back. Raises Rejected with cfg
    # unchanged. In place, because a copy of cfg is a block a fragmented heap may not have.
    version, text, sig = _unpack(payload)
    if key is None:
        raise Rejected("no_device_key", version)
    if not sign.verify(key, (str(version) + "\n" + text).encode(), sig):
        raise Rejected("bad_signature", version)
    if version == cfg["config_version"]:
        return None  # the retained copy, delivered again at each connect
    if version < cfg["config_version"]:
        raise Rejected("stale_version", version)
    try:
        values = json.loads(text)
    except ValueError:
        raise Rejected("invalid: config: not JSON", version) from None
    if not isinstance(values, dict):
        raise Rejected("invalid: config: object required", version)
    for k in values:
        if k not in rules.REMOTE:
            raise Rejected("invalid: " + str(k) + ": unknown field", version)
    undo = {"config_version": cfg["config_version"]}
    for k in values:
        undo[k] = cfg[k]
    cfg.update(values)
    cfg["config_version"] = version
    try:
        rules.check_remote(cfg)
        if cfg["samples_per_frame"] > max_spf:
            # the ring's slots were sized at boot; a bigger frame needs a reboot first
            rules.bad("samples_per_frame", "at most %d on this boot" % max_spf)
    except ValueError as e:
        cfg.update(undo)
        raise Rejected("invalid: " + str(e), version) from None
    return version, values, undo
