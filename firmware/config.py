# Device configuration: defaults here, per-device values and secrets in device.json, which
# the deploy tool writes (never in the repo). A bad value raises ValueError naming the field.
import json

import rules

DEVICE_FILE = "device.json"
CONFIG_FILE = "config.json"  # the last applied remote config (devconfig.py writes it)

DEFAULTS = {
    "device_id": None,  # required: the site-broker account name
    "broker_host": "gaitlink-gw.local",
    "broker_port": 1883,
    "mqtt_user": None,
    "mqtt_password": None,
    "device_key": None,  # hex, 32 bytes: verifies signed configs and OTA offers
    "wifi_ssid": None,  # ESP32 only
    "wifi_password": None,
    "keepalive_s": 30,
    "rate_hz": 100,
    "samples_per_frame": 50,
    "acc_range_g": 8,
    "gyro_range_dps": 1000,
    "imu_addr": 0x68,
    "env_addr": 0x76,
    "env_period_s": 10,
    "status_period_s": 60,
    "ring_bytes": 12288,  # frame ring budget: capacity = ring_bytes // frame size (19 x 644 B)
    "max_inflight": 4,  # unacked QoS 1 frames on the wire
    "reconnect_min_ms": 250,
    "reconnect_max_ms": 8000,
    "stuck_samples": 25,  # this many identical raw samples in a row flag SENSOR_STUCK
    "range_checks": {"temperature": [-20, 60], "humidity": [0, 100], "pressure": [300, 1100]},
    "location": None,  # {"latitude": .., "longitude": ..}
    "axis_map": "x,y,z",  # body x, y, z as signed device axes; the cloud rotates with it
    # calibration offsets on the sensor's axes, subtracted from every sample on the device
    "acc_offset": [0, 0, 0],  # m/s²
    "gyro_offset": [0, 0, 0],  # rad/s
    "config_version": 0,
    "board": None,  # ESP32 board profile (pins), see hardware/boards/
    # bounded runs (tests, demo): stop after max_samples (0 = run forever), then flush
    "max_samples": 0,
    "flush_timeout_s": 20,
    "watchdog_s": 60,  # reset when the sampler or the uplink made no progress this long
    "seed": 1,  # simulated board only
    "sim": None,  # simulated board only: simulator options, see hardware/README.md
}

# field: (type, min, max); None where the field has its own check below
_INTS = {
    "broker_port": (1, 65535),
    "keepalive_s": (5, 3600),
    "stuck_samples": (2, 100000),
    "imu_addr": (0x68, 0x69),
    "env_addr": (0x76, 0x77),
    "ring_bytes": (2048, 1 << 20),
    "max_inflight": (1, 64),
    "reconnect_min_ms": (10, 60000),
    "reconnect_max_ms": (10, 600000),
    "config_version": (0, 0x7FFFFFFF),
    "max_samples": (0, 0x7FFFFFFF),
    "flush_timeout_s": (1, 3600),
    "watchdog_s": (2, 3600),
    "seed": (0, 0xFFFFFFFF),
}
_STRINGS = ("broker_host", "mqtt_user", "mqtt_password", "wifi_ssid", "wifi_password")
_bad = rules.bad
_is_int = rules.is_int
_is_num = rules.is_num


def _is_hex(s):
    return all("0" <= ch <= "9" or "a" <= ch <= "f" or "A" <= ch <= "F" for ch in s)


def _check_device_id(v):
    if not isinstance(v, str) or not 1 <= len(v) <= 32:
        _bad("device_id", "1-32 characters required")
    for i, ch in enumerate(v):
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or (ch == "-" and i > 0)):
            _bad("device_id", "only a-z, 0-9 and '-', starting with a letter or digit")


def validate(cfg):
    for k in cfg:
        if k not in DEFAULTS:
            _bad(k, "unknown field")
    _check_device_id(cfg["device_id"])
    for k, (lo, hi) in _INTS.items():
        v = cfg[k]
        if not _is_int(v) or not lo <= v <= hi:
            _bad(k, "integer in [%d, %d] required" % (lo, hi))
    for k in _STRINGS:
        v = cfg[k]
        if v is not None and not isinstance(v, str):
            _bad(k, "string required")
    if not cfg["broker_host"]:
        _bad("broker_host", "required")
    if cfg["reconnect_max_ms"] < cfg["reconnect_min_ms"]:
        _bad("reconnect_max_ms", "must be >= reconnect_min_ms")
    rules.check_remote(cfg)  # the fields a desired config may change
    loc = cfg["location"]
    if loc is not None:
        if not isinstance(loc, dict):
            _bad("location", "object required")
        lat = loc.get("latitude")
        lon = loc.get("longitude")
        if not _is_num(lat) or not -90 <= lat <= 90:
            _bad("location.latitude", "number in [-90, 90] required")
        if not _is_num(lon) or not -180 <= lon <= 180:
            _bad("location.longitude", "number in [-180, 180] required")
    key = cfg["device_key"]
    if key is not None and (not isinstance(key, str) or len(key) != 64 or not _is_hex(key)):
        _bad("device_key", "64 hex digits required")
    for k in ("board", "sim"):
        if cfg[k] is not None and not isinstance(cfg[k], dict):
            _bad(k, "object required")
    return cfg


def merge(values):
    cfg = dict(DEFAULTS)
    for k, v in values.items():
        cfg[k] = v
    return validate(cfg)


def load(path=DEVICE_FILE):
    try:
        with open(path) as f:
            values = json.load(f)
    except OSError:
        raise ValueError("device_id: no " + path + " (the deploy tool writes it)") from None
    except ValueError:
        raise ValueError(path + ": not valid JSON") from None
    if not isinstance(values, dict):
        raise ValueError(path + ": object required")
    # the last applied remote config on top of device.json, so that a remote config can
    # also repair a device.json value that stops the app (safe mode takes configs)
    overlaid = _overlay(values)
    if overlaid is not None:
        try:
            return merge(overlaid)
        except ValueError as e:
            print("config: ignoring", CONFIG_FILE + ":", repr(e))
    return merge(values)


def _overlay(values, path=CONFIG_FILE):
    # device.json's values with the remote fields of the last applied config, or None
    try:
        with open(path) as f:
            saved = json.load(f)
        merged = dict(values)
        for k, v in saved["config"].items():
            if k not in rules.REMOTE:
                _bad(k, "not a remote field")
            merged[k] = v
        merged["config_version"] = saved["version"]
        return merged
    except OSError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        print("config: ignoring", path + ":", repr(e))
        return None
