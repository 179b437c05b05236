"""Export to the locomotion data standardisation project's (LocoHub's) parquet layout.

Phase file (`*_phase.parquet`): one row per (cycle, phase point), 150 points per cycle,
columns `subject`, `task`, `task_id`, `task_info`, `step` (the cycle's number in the file,
from 1), `phase_ipsi` (0–100 % of the cycle) and one column per variable
(`variables.variable_name`). Time file (`*_time.parquet`): the sessions' raw samples,
`time_s` from each session's start, same metadata and variable columns.

Written with pyarrow window by window (`Research.iter_cycles`, chunked raw queries), so a
long study never sits in memory at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gaitlink.cloud.gait.table import CHANNELS
from gaitlink.research.api import Research
from gaitlink.research.cycles import N_POINTS
from gaitlink.research.variables import variable_name

PHASE = np.linspace(0.0, 100.0, N_POINTS)  # point i at i/149 of the cycle, as cloud.gait
_META = ("subject", "task", "task_id", "task_info")


def _schema(placement: str, first: tuple[str, pa.DataType]) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in _META]
    fields.append(pa.field(*first))
    if first[0] == "step":
        fields.append(pa.field("phase_ipsi", pa.float64()))
    fields += [pa.field(variable_name(c, placement), pa.float64()) for c in CHANNELS]
    return pa.schema(fields)


def export_phase(
    research: Research,
    subject: str,
    task: str,
    out: Path | str | BinaryIO,
    *,
    placement: str | None = None,
    valid_only: bool = True,
    session: int | None = None,
) -> tuple[int, int]:
    """Write the phase file (to a path or a writable binary file object); returns (cycles
    written, cycles left out for lack of samples). `session`: only that session's cycles."""
    writer = None
    step = 0
    skipped = 0
    try:
        for batch in research.iter_cycles(
            subject, task, valid_only=valid_only, placement=placement, session=session
        ):
            ok = batch.table["cut"].to_numpy(bool)
            skipped += int((~ok).sum())
            data = batch.data[ok]
            n = data.shape[0]
            if n == 0:
                continue
            s = batch.session
            if writer is None:
                schema = _schema(s.placement, ("step", pa.int32()))
                writer = pq.ParquetWriter(out, schema)
            rows = n * N_POINTS
            columns = _meta_columns(s, rows)
            columns["step"] = np.repeat(np.arange(step + 1, step + n + 1, dtype=np.int32), N_POINTS)
            columns["phase_ipsi"] = np.tile(PHASE, n)
            flat = data.reshape(rows, len(CHANNELS))
            for i, c in enumerate(CHANNELS):
                columns[variable_name(c, s.placement)] = flat[:, i]
            writer.write_table(pa.table(columns, schema=writer.schema))
            step += n
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise LookupError(f"no cycles of {subject} doing {task} to export")
    return step, skipped


def export_time(
    research: Research,
    subject: str,
    task: str,
    out: Path | str | BinaryIO,
    *,
    placement: str | None = None,
    session: int | None = None,
) -> int:
    """Write the time file (every session's raw samples, or only `session`'s); returns the
    samples written."""
    sessions = research.session_list(subject, task, placement, session)
    schema = _schema(sessions[0].placement, ("time_s", pa.float64()))
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        for s in sessions:
            for a, b in research.windows(s):
                raw = research.get_raw(s.device, a, b)
                if raw.empty:
                    continue
                rows = len(raw)
                columns = _meta_columns(s, rows)
                start = pd.Timestamp(s.start_us, unit="us", tz="UTC")
                columns["time_s"] = ((raw["time"] - start) / pd.Timedelta(seconds=1)).to_numpy()
                for c in CHANNELS:
                    columns[variable_name(c, s.placement)] = raw[c].to_numpy(np.float64)
                writer.write_table(pa.table(columns, schema=schema))
                written += rows
    return written


def _meta_columns(session, rows: int) -> dict:
    return {name: pa.array([getattr(session, name)] * rows, pa.string()) for name in _META}
