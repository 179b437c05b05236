"""Event matching for the gait tests."""

from __future__ import annotations

import numpy as np


def match(detected: np.ndarray, reference: np.ndarray, tolerance_s: float) -> tuple[float, float]:
    """F1 and mean absolute error (ms) of a one-to-one, closest-first matching."""
    det = np.asarray(detected, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    pairs = sorted(
        (abs(d - r), i, j)
        for i, d in enumerate(det)
        for j, r in enumerate(ref)
        if abs(d - r) <= tolerance_s
    )
    used_d, used_r, errors = set(), set(), []
    for err, i, j in pairs:
        if i not in used_d and j not in used_r:
            used_d.add(i)
            used_r.add(j)
            errors.append(err)
    f1 = 2 * len(errors) / (len(det) + len(ref)) if len(det) + len(ref) else 1.0
    mae_ms = 1000.0 * float(np.mean(errors)) if errors else float("nan")
    return f1, mae_ms
