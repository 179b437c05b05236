"""`connect(url, database)`: gait cycles, events and raw samples straight from InfluxDB.

Modelled on LocoHub's `LocomotionData` (`get_cycles(subject, task)` ->
`(n_cycles, 150, n_features)`, mean/std patterns, range of motion), but reading the live
database: subjects and tasks come from the `session` measurement, cycles from the stored
`gait_cycle` boundaries cut out of the stored `imu` samples (see cycles.py).

Every query covers at most `chunk` of time, so a long span never sits in InfluxDB's answer
or in memory at once; what is returned is what was asked for. Long pulls show a progress
bar on a terminal and nothing elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from tqdm import tqdm

from gaitlink.cloud.gait.table import CHANNELS, FEATURE_COLUMNS
from gaitlink.cloud.influx.client import InfluxSettings
from gaitlink.cloud.influx.sync import InfluxV1Sync
from gaitlink.cloud.registry.sessions import Session
from gaitlink.research import cycles as cut
from gaitlink.research.influxql import (
    columns,
    epoch_us,
    floats,
    literal,
    time_range,
    windows,
)
from gaitlink.research.variables import channel_of, variable_name

_CYCLE_FIELDS = (
    "origin_us", "rate_hz", "start_s", "end_s", "first_us", "end_us", "fc_us", "duration_s",
    "cadence", "stance_pct", "swing_pct", "valid", "reason", "side", *FEATURE_COLUMNS,
)  # fmt: skip


def connect(
    url: str,
    database: str,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    chunk: timedelta = timedelta(minutes=10),
    timeout_s: float = 60.0,
    progress: bool | None = None,
) -> Research:
    """Open an InfluxDB (1.x; 2.x/3.x through their v1 API) for research queries.

    ``username``/``password`` for InfluxDB 1.x, ``token`` for 2.x/3.x. ``chunk``: the
    longest span one query covers. ``progress``: None shows a bar only on a terminal.
    """
    settings = InfluxSettings(
        url=url,
        database=database,
        username=username,
        password=password,
        token=token,
        timeout_s=timeout_s,
    )
    return Research(InfluxV1Sync(settings), chunk=chunk, progress=progress)


@dataclass(frozen=True, slots=True)
class CycleBatch:
    """Cycles of one query window of one session: arrays, and a row of metadata per cycle."""

    session: Session
    data: np.ndarray  # (n, 150, 6) in CHANNELS order; NaN where a cycle could not be cut
    table: pd.DataFrame  # the gait_cycle fields, plus `cut` (bool)


class Research:
    def __init__(
        self, client: InfluxV1Sync, *, chunk: timedelta, progress: bool | None = None
    ) -> None:
        if chunk <= timedelta(0):
            raise ValueError(f"chunk must be a positive span; got {chunk}")
        self._client = client
        self._chunk_us = chunk // timedelta(microseconds=1)
        self._progress = progress
        self.queries = 0  # how many InfluxQL queries ran (chunking is visible, testable)

    def _query(self, q: str) -> list[dict]:
        self.queries += 1
        return self._client.query(q)

    # -- who and what ------------------------------------------------------------------

    def subjects(self) -> list[str]:
        return self._tag_values("subject")

    def tasks(self, subject: str | None = None) -> list[str]:
        where = f" WHERE subject = {literal(subject)}" if subject else ""
        return self._tag_values("task", where)

    def _tag_values(self, key: str, where: str = "") -> list[str]:
        series = self._query(f'SHOW TAG VALUES FROM "session" WITH KEY = "{key}"{where}')
        return sorted({v for v in columns(series).get("value", [])})

    def sessions(
        self, subject: str | None = None, task: str | None = None, device: str | None = None
    ) -> pd.DataFrame:
        """The recording sessions, one row each (`end` is NaT while a session is open)."""
        rows = self._sessions(subject, task, device)
        frame = pd.DataFrame(
            [{name: getattr(s, name) for name in Session.__slots__} for s in rows],
            columns=list(Session.__slots__),
        )
        frame["start"] = pd.to_datetime(frame.pop("start_us"), unit="us", utc=True)
        frame["end"] = pd.to_datetime(frame.pop("end_us"), unit="us", utc=True)
        return frame

    def _sessions(self, subject=None, task=None, device=None) -> list[Session]:
        conds = [
            f"{key} = {literal(value)}"
            for key, value in (("subject", subject), ("task", task), ("device", device))
            if value
        ]
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        cols = columns(self._query(f'SELECT * FROM "session"{where}'))
        out = []
        for i, start in enumerate(cols.get("time", [])):
            end = cols.get("end_us", [None] * (i + 1))[i]
            out.append(
                Session(
                    id=int(cols["session_id"][i]),
                    subject=cols["subject"][i],
                    task=cols["task"][i],
                    task_id=cols["task_id"][i] or cols["task"][i],
                    task_info=cols["task_info"][i] or "",
                    device=cols["device"][i],
                    placement=cols["placement"][i],
                    side=cols["side"][i] or "",
                    start_us=int(start),
                    end_us=None if end is None else int(end),
                )
            )
        return sorted(out, key=lambda s: (s.start_us, s.id))

    def session_list(
        self, subject: str, task: str, placement: str | None = None, session: int | None = None
    ) -> list[Session]:
        """The sessions of a subject's task (only session number `session` when given), all
        with one placement (else ValueError)."""
        sessions = [
            s
            for s in self._sessions(subject, task)
            if (placement is None or s.placement == placement)
            and (session is None or s.id == session)
        ]
        if not sessions:
            known = ", ".join(self.tasks(subject)) or "none"
            raise LookupError(
                f"no sessions of {subject} doing {task}"
                + (f" with a {placement} sensor" if placement else "")
                + (f" numbered {session}" if session is not None else "")
                + f" (tasks of {subject}: {known})"
            )
        placements = sorted({s.placement for s in sessions})
        if len(placements) > 1:
            raise ValueError(
                f"{subject} wore sensors on {', '.join(placements)} for {task}: their cycles "
                "differ, pass placement= to choose one"
            )
        return sessions

    # -- cycles -------------------------------------------------------------------------

    def iter_cycles(
        self,
        subject: str,
        task: str,
        *,
        valid_only: bool = True,
        placement: str | None = None,
        session: int | None = None,
    ) -> Iterator[CycleBatch]:
        """Cycles window by window (bounded memory): what get_cycles and export build on."""
        sessions = self.session_list(subject, task, placement, session)
        spans = [(s, list(windows(s.start_us, self._end_us(s), self._chunk_us))) for s in sessions]
        total = sum(len(w) for _, w in spans)
        with tqdm(
            total=total, desc=f"{subject} {task}", unit="chunk", disable=self._bar_off()
        ) as bar:
            for session, spans_of in spans:
                for a, b in spans_of:
                    batch = self._cycle_window(session, a, b, valid_only)
                    bar.update(1)
                    if batch is not None:
                        yield batch

    def _cycle_window(self, session: Session, a: int, b: int, valid_only: bool):
        # Cycles that start in [a, b) (the session bounds the last window), and whose end
        # is inside the session too.
        table = self._cycle_rows(session, a, b, valid_only)
        if table.empty:
            return None
        if session.end_us is not None:
            table = table[table["end_us"].isna() | (table["end_us"] <= session.end_us)]
            if table.empty:
                return None
        table = table.reset_index(drop=True)
        data = np.full((len(table), cut.N_POINTS, len(CHANNELS)), np.nan)
        ok = np.zeros(len(table), dtype=bool)
        # What a cut needs: the stream's clock, and where its first sample is (`first_us`;
        # rows written before it have `origin_us`, see cycles.py).
        clock = table[["rate_hz", "start_s", "end_s", "end_us"]].notna().all(axis=1)
        has = (clock & table[["first_us", "origin_us"]].notna().any(axis=1)).to_numpy()
        if has.any():
            t = table[has]
            rate = t["rate_hz"].to_numpy(float)
            start_s, end_s = t["start_s"].to_numpy(float), t["end_s"].to_numpy(float)
            first_us, tolerance_us = cut.first_sample_us(
                t["origin_us"].to_numpy(float), rate, start_s, t["first_us"].to_numpy(float)
            )
            lo, hi = cut.raw_window_us(first_us, tolerance_us, t["end_us"].to_numpy(float), rate)
            times, samples = self._raw_arrays(session.device, lo, hi + 1)
            sides = t["side"].fillna("").to_numpy(str)
            got, got_ok = cut.cut(
                times, samples, rate, start_s, end_s, first_us, tolerance_us, sides
            )
            data[has], ok[has] = got, got_ok
        table["cut"] = ok
        table.insert(0, "session_id", session.id)
        table.insert(1, "device", session.device)
        return CycleBatch(session, data, table)

    def _cycle_rows(self, session: Session, a: int, b: int, valid_only: bool) -> pd.DataFrame:
        # The stored `gait_cycle` rows of the session's device that start in [a, b).
        cond = f"device = {literal(session.device)} AND {time_range(a, b)}"
        if valid_only:
            cond += " AND valid = true"
        fields = ", ".join(f'"{f}"' for f in _CYCLE_FIELDS)
        rows = self._query(f'SELECT {fields} FROM "gait_cycle" WHERE {cond}')
        return _frame(rows, _CYCLE_FIELDS)

    def _end_us(self, session: Session) -> int:
        return session.end_us if session.end_us is not None else time.time_ns() // 1000 + 1

    def _bar_off(self) -> bool | None:
        # tqdm's None: off unless stderr is a terminal.
        return None if self._progress is None else not self._progress

    def get_cycles(
        self,
        subject: str,
        task: str,
        *,
        channels: list[str] | None = None,
        valid_only: bool = True,
        placement: str | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """(n_cycles, 150, n_features) and the feature names, like LocoHub's get_cycles.

        ``channels``: channel (`gy`) or variable names to keep, in that order (default all
        six). With ``valid_only=False`` invalid cycles come too; those that cannot be cut
        (a gap inside) are NaN. Order: by session, then time.
        """
        data, names, _ = self.cycles_with_table(
            subject, task, channels=channels, valid_only=valid_only, placement=placement
        )
        return data, names

    def cycles_with_table(
        self,
        subject: str,
        task: str,
        *,
        channels: list[str] | None = None,
        valid_only: bool = True,
        placement: str | None = None,
    ) -> tuple[np.ndarray, list[str], pd.DataFrame]:
        """As get_cycles, plus the cycles table row of each cycle (same order)."""
        batches = list(self.iter_cycles(subject, task, valid_only=valid_only, placement=placement))
        if batches:
            where = batches[0].session.placement
        else:
            where = self.session_list(subject, task, placement)[0].placement
        pick = [channel_of(c, where) for c in (channels or CHANNELS)]
        idx = [CHANNELS.index(c) for c in pick]
        names = [variable_name(c, where) for c in pick]
        if not batches:
            return np.empty((0, cut.N_POINTS, len(idx))), names, pd.DataFrame()
        data = np.concatenate([b.data[:, :, idx] for b in batches])
        table = pd.concat([b.table for b in batches], ignore_index=True)
        return data, names, table

    def get_mean_patterns(self, subject: str, task: str, **kw) -> dict[str, np.ndarray]:
        """{feature: (150,) mean over the cycles}."""
        data, names = self.get_cycles(subject, task, **kw)
        return _per_feature(names, cut.across_cycles(np.mean, data))

    def get_std_patterns(self, subject: str, task: str, **kw) -> dict[str, np.ndarray]:
        """{feature: (150,) standard deviation over the cycles (ddof=0, as numpy)}."""
        data, names = self.get_cycles(subject, task, **kw)
        return _per_feature(names, cut.across_cycles(np.std, data))

    def calculate_rom(
        self, subject: str, task: str, *, by_cycle: bool = True, **kw
    ) -> dict[str, np.ndarray | float]:
        """Range of motion (max − min) per feature: per cycle (n_cycles,), or over all."""
        data, names = self.get_cycles(subject, task, **kw)
        if by_cycle:
            rom = np.ptp(data, axis=1) if data.size else np.empty((0, len(names)))
            return {n: rom[:, i] for i, n in enumerate(names)}
        return {
            n: float(np.nanmax(data[:, :, i]) - np.nanmin(data[:, :, i])) if data.size else np.nan
            for i, n in enumerate(names)
        }

    # -- tables -------------------------------------------------------------------------

    def cycles_table(
        self,
        subject: str,
        task: str,
        *,
        valid_only: bool = False,
        placement: str | None = None,
    ) -> pd.DataFrame:
        """The per-cycle features (`gait_cycle`), one row per cycle, with its session."""
        frames = []
        for session in self.session_list(subject, task, placement):
            for a, b in self.windows(session):
                t = self._cycle_rows(session, a, b, valid_only)
                if not t.empty:
                    t.insert(0, "session_id", session.id)
                    t.insert(1, "device", session.device)
                    frames.append(t)
        return _timed(frames)

    def get_events(
        self, subject: str, task: str, *, kind: str | None = None, placement: str | None = None
    ) -> pd.DataFrame:
        """Gait events (`IC` initial, `FC` final contacts) of a subject's task, by time."""
        frames = []
        for session in self.session_list(subject, task, placement):
            for a, b in self.windows(session):
                cond = f"device = {literal(session.device)} AND {time_range(a, b)}"
                if kind:
                    cond += f" AND kind = {literal(kind)}"
                t = _frame(self._query(f'SELECT kind, delay_ms FROM "gait_event" WHERE {cond}'))
                if not t.empty:
                    t.insert(0, "session_id", session.id)
                    t.insert(1, "device", session.device)
                    frames.append(t)
        return _timed(frames)

    def get_raw(self, device: str, start, end) -> pd.DataFrame:
        """Raw samples of ``device`` in [start, end): ax..gz (SI, body frame) and q."""
        a, b = epoch_us(start), epoch_us(end)
        if b <= a:
            raise ValueError("end must be after start")
        frames = []
        spans = list(windows(a, b, self._chunk_us))
        for lo, hi in tqdm(spans, desc=device, unit="chunk", disable=self._bar_off()):
            cond = f"device = {literal(device)} AND {time_range(lo, hi)}"
            fields = ", ".join(f'"{c}"' for c in (*CHANNELS, "q"))
            t = _frame(self._query(f'SELECT {fields} FROM "imu" WHERE {cond} ORDER BY time'))
            if not t.empty:
                frames.append(t)
        return _timed(frames)

    def windows(self, session: Session) -> Iterator[tuple[int, int]]:
        """The query windows [a, b) (epoch µs) covering a session, at most `chunk` each."""
        return windows(session.start_us, self._end_us(session), self._chunk_us)

    def _raw_arrays(self, device: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        # The samples for cutting: numpy straight from the answer, no DataFrame.
        fields = ", ".join(f'"{c}"' for c in CHANNELS)
        cond = f"device = {literal(device)} AND {time_range(lo, hi)}"
        cols = columns(self._query(f'SELECT {fields} FROM "imu" WHERE {cond} ORDER BY time'))
        if not cols:
            return np.empty(0, dtype=np.int64), np.empty((0, len(CHANNELS)))
        times = np.asarray(cols["time"], dtype=np.int64)
        return times, np.column_stack([floats(cols[c]) for c in CHANNELS])


def _frame(series: list[dict], fields: tuple[str, ...] = ()) -> pd.DataFrame:
    # InfluxDB leaves out a selected field that no point in the answer has (data written
    # before the field existed): the frame still gets the column, empty.
    cols = columns(series)
    if not cols:
        return pd.DataFrame()
    frame = pd.DataFrame(cols)
    for name in fields:
        if name not in frame:
            frame[name] = None
    return frame


def _timed(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "time", pd.to_datetime(out.pop("time"), unit="us", utc=True))
    return out


def _per_feature(names: list[str], block: np.ndarray) -> dict[str, np.ndarray]:
    return {n: block[:, i] for i, n in enumerate(names)}
