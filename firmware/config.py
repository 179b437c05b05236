# Device configuration: defaults here, per-device values and secrets in device.json, which
# the deploy tool writes (never in the repo). A bad value raises ValueError naming the field.
import json

DEVICE_FILE = "device.json"

DEFAULTS = {
    "device_id": None,  # required: the site-broker account name
    "broker_host": "gaitlink-gw.local",
    "broker_port": 1883,
    "mqtt_user": None,
    "mqtt_password": None,
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
    "config_version": 0,
    "board": None,  # ESP32 board profile (pins), see hardware/boards/
    # bounded runs (tests, demo): stop after max_samples (0 = run forever), then flush
    "max_samples": 0,
    "flush_timeout_s": 20,
    "seed": 1,  # simulated board only
    "sim": None,  # simulated board only: simulator options, see hardware/README.md
}

# field: (type, min, max); None where the field has its own check below
_INTS = {
    "broker_port": (1, 65535),
    "keepalive_s": (5, 3600),
    "samples_per_frame": (1, 200),
    "stuck_samples": (2, 100000),
    "imu_addr": (0x68, 0x69),
    "env_addr": (0x76, 0x77),
    "env_period_s": (1, 86400),
    "status_period_s": (1, 86400),
    "ring_bytes": (2048, 1 << 20),
    "max_inflight": (1, 64),
    "reconnect_min_ms": (10, 60000),
    "reconnect_max_ms": (10, 600000),
    "config_version": (0, 0x7FFFFFFF),
    "max_samples": (0, 0x7FFFFFFF),
    "flush_timeout_s": (1, 3600),
    "seed": (0, 0xFFFFFFFF),
}
_STRINGS = ("broker_host", "mqtt_user", "mqtt_password", "wifi_ssid", "wifi_password")
_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
_ENV = ("temperature", "humidity", "pressure")
_ACC_RANGES = (2, 4, 8, 16)
_GYRO_RANGES = (250, 500, 1000, 2000)


def _bad(field, why):
    raise ValueError(field + ": " + why)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


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
    r = cfg["rate_hz"]
    # the MPU-6050 rate is 1 kHz / (1 + SMPLRT_DIV): only divisors of 1000 are exact
    if not _is_int(r) or not 4 <= r <= 1000 or 1000 % r:
        _bad("rate_hz", "a divisor of 1000 in [4, 1000] required")
    if cfg["acc_range_g"] not in _ACC_RANGES:
        _bad("acc_range_g", "one of 2, 4, 8, 16")
    if cfg["gyro_range_dps"] not in _GYRO_RANGES:
        _bad("gyro_range_dps", "one of 250, 500, 1000, 2000")
    if cfg["reconnect_max_ms"] < cfg["reconnect_min_ms"]:
        _bad("reconnect_max_ms", "must be >= reconnect_min_ms")
    checks = cfg["range_checks"]
    if not isinstance(checks, dict):
        _bad("range_checks", "object required")
    for k, lim in checks.items():
        name = "range_checks." + str(k)
        if k not in _CHANNELS and k not in _ENV:
            _bad(name, "unknown quantity")
        if (
            not isinstance(lim, (list, tuple))
            or len(lim) != 2
            or not _is_num(lim[0])
            or not _is_num(lim[1])
            or lim[0] > lim[1]
        ):
            _bad(name, "[low, high] with low <= high required")
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
    return merge(values)
