"""Event matching and detection metrics shared by the benchmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class EventScore:
    """How well detected events match reference events (times in seconds)."""

    n_ref: int
    n_det: int
    tp: int
    precision: float
    recall: float
    f1: float
    mae_ms: float  # mean |detected - reference| over the matched pairs
    bias_ms: float  # mean (detected - reference): positive = detected late

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def match_events(
    detected: np.ndarray, reference: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching within `tolerance`: closest pairs first, each event used once.

    Returns the indices (into `detected`, into `reference`) of the matched pairs, sorted
    by reference index.
    """
    det = np.asarray(detected, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    order = np.argsort(ref, kind="stable")
    ref_sorted = ref[order]
    lo = np.searchsorted(ref_sorted, det - tolerance, side="left")
    hi = np.searchsorted(ref_sorted, det + tolerance, side="right")
    pairs = [
        (abs(det[i] - ref_sorted[j]), i, int(order[j]))
        for i in range(len(det))
        for j in range(lo[i], hi[i])
    ]
    pairs.sort()
    used_det: set[int] = set()
    used_ref: set[int] = set()
    matched = []
    for _, i, j in pairs:
        if i not in used_det and j not in used_ref:
            used_det.add(i)
            used_ref.add(j)
            matched.append((j, i))
    matched.sort()
    di = np.array([i for _, i in matched], dtype=np.int64)
    ri = np.array([j for j, _ in matched], dtype=np.int64)
    return di, ri


def score_events(detected: np.ndarray, reference: np.ndarray, tolerance: float) -> EventScore:
    det = np.asarray(detected, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    di, ri = match_events(det, ref, tolerance)
    tp = len(di)
    precision = tp / len(det) if len(det) else float("nan")
    recall = tp / len(ref) if len(ref) else float("nan")
    f1 = 2 * tp / (len(det) + len(ref)) if len(det) + len(ref) else float("nan")
    err = (det[di] - ref[ri]) * 1000.0
    return EventScore(
        n_ref=len(ref),
        n_det=len(det),
        tp=tp,
        precision=precision,
        recall=recall,
        f1=f1,
        mae_ms=float(np.abs(err).mean()) if tp else float("nan"),
        bias_ms=float(err.mean()) if tp else float("nan"),
    )
