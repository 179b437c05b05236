"""Event matching and real-data availability for the gait tests."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gaitlink.tools.bench.accuracy import default_data_dir
from gaitlink.tools.bench.events import score_events


def match(detected: np.ndarray, reference: np.ndarray, tolerance_s: float) -> tuple[float, float]:
    """F1 and mean absolute error (ms): the benchmarks' one-to-one, closest-first matching."""
    score = score_events(detected, reference, tolerance_s)
    return score.f1, score.mae_ms


# The real recordings live beside the repository (../shared/data/gaitmap-foot). A checkout
# without them skips these tests; CI always has them, so there a missing folder fails.
needs_real_data = pytest.mark.skipif(
    not (default_data_dir() / "imu_sample.csv").is_file() and os.environ.get("CI") != "true",
    reason="../shared/data/gaitmap-foot is not beside the repository",
)
