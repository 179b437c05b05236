"""The cycles table: a numpy structured array, one row per gait cycle.

A structured array needs nothing beyond numpy, converts with ``pandas.DataFrame(cycles)``,
and its named columns map one-to-one onto InfluxDB fields (``row[name]``).
"""

import numpy as np

from . import _layout as k

CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
FEATURES = ("rom", "peak", "mean")
REASONS = ("", "duration", "outlier", "gap", "device_flag", "nan")
SIDES = ("", "left", "right")

_TIME_COLUMNS = ("start", "end", "fc", "duration", "cadence", "stance_pct", "swing_pct")
FEATURE_COLUMNS = tuple(f"{c}_{f}" for c in CHANNELS for f in FEATURES)

CYCLE_DTYPE = np.dtype(
    [(name, "f8") for name in (*_TIME_COLUMNS, *FEATURE_COLUMNS)]
    + [("valid", "?"), ("reason", "U11"), ("side", "U5")]
)
# The float columns, seen as one (n, 25) block: the kernels' rows go in with one copy.
_FLOATS = np.dtype(
    {"names": ["f"], "formats": [("f8", (k.N_COLS,))], "offsets": [0],
     "itemsize": CYCLE_DTYPE.itemsize}
)  # fmt: skip

_REASON_ARRAY = np.array(REASONS, dtype="U11")
SIDE_NAMES = np.array(SIDES, dtype="U5")  # side code (0, 1, 2) -> name


def empty_cycles() -> np.ndarray:
    return np.empty(0, dtype=CYCLE_DTYPE)


def cycles_from_rows(rows_f: np.ndarray, rows_i: np.ndarray) -> np.ndarray:
    out = np.empty(rows_f.shape[0], dtype=CYCLE_DTYPE)
    out.view(_FLOATS)["f"] = rows_f
    out["valid"] = rows_i[:, k.R_VALID] != 0
    out["reason"] = _REASON_ARRAY[rows_i[:, k.R_REASON]]
    out["side"] = SIDE_NAMES[rows_i[:, k.R_SIDE]]
    return out
