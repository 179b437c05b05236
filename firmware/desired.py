# A desired config (docs/protocol.md §3.3), checked before anything changes: HMAC over the
# bytes received with the device's key, a version newer than the running one, and every
# field by rules.py. Loaded on its own, and unloaded before devconfig.py applies the result:
# the two never take the heap at the same time. sign.py is unloaded before rules.py loads,
# for the same reason.
import json
import sys


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


def verify(key, payload, running):
    # (version, config text) of a desired config signed with key and newer than the
    # running version; None if it is the running version. Raises Rejected.
    version, text, sig = _unpack(payload)
    if key is None:
        raise Rejected("no_device_key", version)
    import sign

    good = sign.verify(key, (str(version), "\n", text), sig)
    sign = None
    sys.modules.pop("sign", None)  # unloaded before rules.py loads
    if not good:
        raise Rejected("bad_signature", version)
    if version == running:
        return None  # the retained copy, delivered again at each connect
    if version < running:
        raise Rejected("stale_version", version)
    return version, text


def check(cfg, key, payload, max_spf):
    # verify() and rules.check_desired() in one step, for safe mode, which has the heap to
    # hold both modules (the app unloads this module between the two): None if this
    # version already runs, else (version, values, undo). Raises Rejected.
    got = verify(key, payload, cfg["config_version"])
    if got is None:
        return None
    import rules

    try:
        return (got[0],) + rules.check_desired(cfg, got[1], got[0], max_spf)
    except ValueError as e:
        raise Rejected("invalid: " + str(e), got[0]) from None


def remote():
    # the fields a desired config may change (rules.REMOTE), for the report: the list
    # outlives the modules
    import rules

    return rules.REMOTE
