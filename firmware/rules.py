# The checks of the fields a desired config may change (REMOTE). config.py runs them on
# device.json at boot, and check_desired() on a verified desired config at run time: one
# set of rules, small enough to load while the app runs (all of config.py is not).
import json

# What an operator may change remotely. Identity, broker and keys stay in device.json.
# (Lists, not tuples, here: the strings of a constant tuple would each be a heap object,
# a list's are qstrs, shared with every module that names them.)
REMOTE = [
    "rate_hz",
    "samples_per_frame",
    "acc_range_g",
    "gyro_range_dps",
    "range_checks",
    "status_period_s",
    "env_period_s",
    "axis_map",
    "acc_offset",
    "gyro_offset",
]
# calibration offsets (sensor axes, subtracted on the device): largest magnitude allowed
_OFFSET_MAX = [["acc_offset", 20.0], ["gyro_offset", 1.0]]  # m/s² (~2 g), rad/s (~57 °/s)
# what range_checks may limit: the IMU's channels and the env readings
_LIMITED = ["ax", "ay", "az", "gx", "gy", "gz", "temperature", "humidity", "pressure"]


def bad(field, why):
    raise ValueError(field + ": " + why)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(cfg, k, lo, hi):
    v = cfg[k]
    if not is_int(v) or not lo <= v <= hi:
        bad(k, "integer in [%d, %d] required" % (lo, hi))


def _axis_map(v):
    # "x,y,z" or "-y,x,z": each device axis once, no mirror image (the cloud's rule too)
    parts = v.split(",") if isinstance(v, str) else ()
    axes = [p.strip().lstrip("+-") for p in parts]
    if len(parts) != 3 or sorted(axes) != ["x", "y", "z"]:
        bad("axis_map", "three signed axes, each of x, y, z once, like 'x,y,z' or '-y,x,z'")
    odd = 0
    for i in range(3):
        odd += parts[i].strip().startswith("-")
        for j in range(i + 1, 3):
            odd += axes[i] > axes[j]
    if odd % 2:
        bad("axis_map", "a mirror image; the body frame is right-handed")


def _offsets(cfg):
    for k, most in _OFFSET_MAX:
        v = cfg[k]
        if not isinstance(v, (list, tuple)) or len(v) != 3:
            bad(k, "[x, y, z] required")
        for x in v:
            if not is_num(x) or not -most <= x <= most:
                bad(k, "each of x, y, z a number within ±%g required" % most)


def check_remote(cfg):
    _int(cfg, "samples_per_frame", 1, 200)
    _int(cfg, "env_period_s", 1, 86400)
    _int(cfg, "status_period_s", 1, 86400)
    r = cfg["rate_hz"]
    # the MPU-6050 rate is 1 kHz / (1 + SMPLRT_DIV): only divisors of 1000 are exact
    if not is_int(r) or not 4 <= r <= 1000 or 1000 % r:
        bad("rate_hz", "a divisor of 1000 in [4, 1000] required")
    if cfg["acc_range_g"] not in (2, 4, 8, 16):
        bad("acc_range_g", "one of 2, 4, 8, 16")
    if cfg["gyro_range_dps"] not in (250, 500, 1000, 2000):
        bad("gyro_range_dps", "one of 250, 500, 1000, 2000")
    checks = cfg["range_checks"]
    if not isinstance(checks, dict):
        bad("range_checks", "object required")
    for k, lim in checks.items():
        name = "range_checks." + str(k)
        if k not in _LIMITED:
            bad(name, "unknown quantity")
        if (
            not isinstance(lim, (list, tuple))
            or len(lim) != 2
            or not is_num(lim[0])
            or not is_num(lim[1])
            or lim[0] > lim[1]
        ):
            bad(name, "[low, high] with low <= high required")
    _axis_map(cfg["axis_map"])
    _offsets(cfg)


def check_desired(cfg, text, version, max_spf):
    # the fields of a verified desired config (desired.verify), applied to cfg in place:
    # (values, undo), where undo puts cfg back. Raises ValueError naming the field, with
    # cfg unchanged. In place: a copy of cfg is a block a fragmented heap may not have.
    try:
        values = json.loads(text)
    except ValueError:
        bad("config", "not JSON")
    if not isinstance(values, dict):
        bad("config", "object required")
    for k in values:
        if k not in REMOTE:
            bad(str(k), "unknown field")
    undo = {"config_version": cfg["config_version"]}
    for k in values:
        undo[k] = cfg[k]
    cfg.update(values)
    cfg["config_version"] = version
    try:
        check_remote(cfg)
        if cfg["samples_per_frame"] > max_spf:
            # the ring's slots were sized at boot; a bigger frame needs a reboot first
            bad("samples_per_frame", "at most %d on this boot" % max_spf)
    except ValueError:
        cfg.update(undo)
        raise
    return values, undo
