"""Figures for people to look at: mean ± SD cycles, and cadence/stride time over a session.

matplotlib (the `plot` extra), drawn off-screen (Agg) into a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gaitlink.research.cycles import across_cycles
from gaitlink.research.export import PHASE
from gaitlink.research.variables import variable_unit

_AXIS_WORDS = {"x": "anterior-posterior", "y": "medio-lateral", "z": "vertical"}
_QUANTITY_WORDS = {"a": "acceleration", "g": "angular velocity"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def plot_cycles(data: np.ndarray, channels: list[str], title: str, out: Path | str) -> Path:
    """Mean ± SD over the gait phase, one panel per channel; ``data`` (n, 150, len(channels))."""
    plt = _pyplot()
    cols = 2 if len(channels) > 1 else 1
    rows = -(-len(channels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 2.6 * rows), squeeze=False)
    mean, sd = across_cycles(np.mean, data), across_cycles(np.std, data)
    # Cycles with at least one channel whole (a device without gyroscope has no gx..gz).
    shown = int(np.isfinite(data).all(axis=1).any(axis=1).sum())
    for i, channel in enumerate(channels):
        # Column-major: accelerations on the left, angular velocities on the right.
        ax = axes[i % rows, i // rows]
        m, d = mean[:, i], sd[:, i]
        ax.fill_between(PHASE, m - d, m + d, alpha=0.3, label="± 1 SD")
        ax.plot(PHASE, m, lw=1.6, label="mean")
        words = f"{_QUANTITY_WORDS[channel[0]]}, {_AXIS_WORDS[channel[1]]}"
        ax.set_title(f"{channel}: {words}", fontsize=9)
        ax.set_ylabel(variable_unit(channel))
        ax.set_xlim(0, 100)
        ax.grid(alpha=0.3)
        if i % rows == rows - 1 or i == len(channels) - 1:
            ax.set_xlabel("gait cycle (%)")
    for j in range(len(channels), rows * cols):
        axes[j % rows, j // rows].set_visible(False)
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{title} — {shown} cycles, mean ± SD", fontsize=11)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_session(table: pd.DataFrame, title: str, out: Path | str) -> Path:
    """Cadence and stride time over time; invalid cycles marked by reason.

    ``table``: `Research.cycles_table` (time, cadence, duration_s, valid, reason).
    """
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    valid = table["valid"].astype(bool).to_numpy()
    for ax, column, label in (
        (top, "cadence", "cadence (steps/min)"),
        (bottom, "duration_s", "stride time (s)"),
    ):
        ax.plot(table["time"][valid], table[column][valid], ".", ms=4, color="C0",
                label=f"valid ({int(valid.sum())})")  # fmt: skip
        invalid = table[~valid]
        for k, (reason, rows) in enumerate(invalid.groupby("reason", sort=True)):
            ax.plot(rows["time"], rows[column], "x", ms=7, mew=1.5, color=f"C{k + 1}",
                    label=f"invalid: {reason or '?'} ({len(rows)})")  # fmt: skip
        ax.set_ylabel(label)
        ax.ticklabel_format(axis="y", useOffset=False)  # steady walking: no "+1.25e2"
        ax.grid(alpha=0.3)
    top.legend(fontsize=8, loc="best")
    bottom.set_xlabel("time (UTC)")
    fig.suptitle(f"{title} — {len(table)} cycles", fontsize=11)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
