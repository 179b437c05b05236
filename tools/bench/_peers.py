"""Peer timing worker of `gait-speed`: gaitmap and mobgap on the benchmark's data.

Runs with the python of the peers' own venv (never the project's), as a plain script:
``python _peers.py JSON``; it imports nothing from gaitlink. Prints one JSON object on its
last line: per peer, samples/s on one pinned CPU, the slice it was timed on and the ICs
it found there (seconds), or the error that stopped it.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

# Run as a script, this file's folder is on sys.path: the sibling module, not gaitlink.
from timing import median_time, sized_slice

BUDGET_S = 10.0  # each peer is timed on a slice taking 1/4-1/2 of this
START_S = 60.0


def _frame(x, columns):
    import numpy as np
    import pandas as pd

    x = np.array(x, dtype=float)
    x[:, 3:] = np.degrees(x[:, 3:])  # both peers take gyro in deg/s
    return pd.DataFrame(x, columns=columns)


def gaitmap_foot(x, rate):
    """BarthDtw stride segmentation + RamppEventDetection; ICs in seconds."""
    from gaitmap.event_detection import RamppEventDetection
    from gaitmap.stride_segmentation import BarthDtw
    from gaitmap.utils.coordinate_conversion import convert_left_foot_to_fbf

    # Our body frame is gaitmap's foot sensor frame (x toes, y left, z up): convert to FBF.
    data = convert_left_foot_to_fbf(
        _frame(x, ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"])
    )
    dtw = BarthDtw().segment(data=data, sampling_rate_hz=rate)
    events = RamppEventDetection().detect(
        data=data, stride_list=dtw.stride_list_, sampling_rate_hz=rate
    )
    return events.min_vel_event_list_["ic"].to_numpy(dtype=float) / rate


def mobgap_lower_back(x, rate, detector="IcdIonescu"):
    """A mobgap IC detector on the whole slice as one gait sequence; ICs in seconds."""
    import mobgap.initial_contacts as icd

    algo = getattr(icd, detector)()
    # Body-frame names first (newer mobgap); the older sensor frame has x vertical,
    # z forward.
    try:
        data = _frame(x, ["acc_pa", "acc_ml", "acc_is", "gyr_pa", "gyr_ml", "gyr_is"])
        result = algo.detect(data, sampling_rate_hz=rate)
    except (KeyError, ValueError):
        data = _frame(x[:, [2, 1, 0, 5, 4, 3]], ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y",
                                                  "gyr_z"])  # fmt: skip
        result = algo.detect(data, sampling_rate_hz=rate)
    return result.ic_list_["ic"].to_numpy(dtype=float) / rate


PEERS = {
    "gaitmap": ("foot", gaitmap_foot, "BarthDtw + RamppEventDetection"),
    "mobgap": ("lower_back", mobgap_lower_back, "IcdIonescu"),
}


def _time_one(fn, x, rate, repeats):
    n = sized_slice(lambda m: fn(x[:m], rate), len(x), int(START_S * rate), BUDGET_S)
    seconds = median_time(lambda: fn(x[:n], rate), repeats)
    ics = fn(x[:n], rate)
    return {"samples": n, "seconds": seconds, "sps": n / seconds, "ic_s": [float(v) for v in ics]}


def main() -> None:
    import numpy as np

    spec = json.loads(sys.argv[1])
    os.sched_setaffinity(0, {spec["cpu"]})
    out = {}
    for name in spec["peers"]:
        placement, fn, what = PEERS[name]
        try:
            version = __import__(name).__version__
            x = np.load(Path(spec["data_dir"]) / f"{placement}_samples.npy")
            out[name] = {
                "what": what,
                "placement": placement,
                "version": version,
                **_time_one(fn, x, spec["rate_hz"], spec["repeats"]),
            }
        except Exception as exc:  # a peer that fails is reported, not fatal
            out[name] = {
                "what": what,
                "placement": placement,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=3),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
