"""Recording sessions: who wore which device where, doing what, and when.

Subject ids and task names follow the locomotion data standardisation project (LocoHub),
so that exported files join its datasets: subjects are `<DATASET>_<POP><NN>` (`LAB1_AB01`),
tasks use its names where one fits (`level_walking`) and free snake_case names otherwise.
Sessions live in the registry (SQLite) and are mirrored to InfluxDB as the `session`
measurement, where queries and the research API select by subject and task.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from gaitlink.cloud.gait import PLACEMENTS
from gaitlink.cloud.influx.line import Point, encode_point
from gaitlink.cloud.protocol.topics import valid_device_id

# LocoHub's population codes (its "Population Codes Reference").
POPULATIONS = {
    "AB": "able-bodied",
    "TFA": "transfemoral amputee",
    "TTA": "transtibial amputee",
    "SCI": "spinal cord injury",
    "CVA": "stroke",
    "PD": "Parkinson's disease",
    "CP": "cerebral palsy",
    "MS": "multiple sclerosis",
    "OA": "osteoarthritis",
    "ELD": "elderly",
    "PED": "paediatric",
    "IMP": "impaired (other)",
}
# LocoHub's task names that an IMU on a foot, shank or lower back can record.
LOCOHUB_TASKS = (
    "level_walking",
    "incline_walking",
    "decline_walking",
    "stair_ascent",
    "stair_descent",
    "backward_walking",
    "run",
    "sit_to_stand",
    "stand_to_sit",
    "squat",
    "jump",
    "lunge",
    "cutting",
    "transition",
)
SIDES = ("left", "right")

_DATASET = re.compile(r"[A-Z][A-Z0-9]{1,9}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
_INFO = re.compile(r"[a-z][a-z0-9_]*:[^,:\s\"'\\]+(,[a-z][a-z0-9_]*:[^,:\s\"'\\]+)*")


class SessionError(ValueError):
    """A session request that cannot be honoured; the text says why and what to do."""


def check_subject(subject: str) -> str:
    """`subject` if it is a LocoHub subject id, else SessionError with the reason."""
    example = "e.g. LAB1_AB01"
    if subject != subject.strip() or not subject:
        raise SessionError(f"subject id {subject!r} is empty or has spaces ({example})")
    if subject.upper() != subject:
        raise SessionError(f"subject id {subject!r} must be upper case ({subject.upper()})")
    dataset, sep, rest = subject.rpartition("_")
    if not sep:
        raise SessionError(
            f"subject id {subject!r} has no '_': it is <DATASET>_<POP><NN> ({example})"
        )
    if not _DATASET.fullmatch(dataset):
        raise SessionError(
            f"subject id {subject!r}: dataset {dataset!r} must be 2-10 letters and digits, "
            f"starting with a letter ({example})"
        )
    pop, number = rest.rstrip("0123456789"), rest[len(rest.rstrip("0123456789")) :]
    if pop not in POPULATIONS:
        codes = ", ".join(POPULATIONS)
        raise SessionError(
            f"subject id {subject!r}: population {pop!r} is not a LocoHub code ({codes})"
        )
    if len(number) != 2 or number == "00":
        raise SessionError(
            f"subject id {subject!r}: the subject number must be two digits, 01-99, after "
            f"the population code ({dataset}_{pop}01)"
        )
    return subject


def check_task(task: str, what: str = "task") -> str:
    """`task` if it is a LocoHub task name or a free snake_case name, else SessionError."""
    if not _NAME.fullmatch(task):
        raise SessionError(
            f"{what} {task!r} must be snake_case (a-z, 0-9, _; up to 48 chars, starting "
            f"with a letter); LocoHub names: {', '.join(LOCOHUB_TASKS)}"
        )
    return task


def is_locohub_task(task: str) -> bool:
    return task in LOCOHUB_TASKS


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    subject: str
    task: str
    task_id: str
    task_info: str
    device: str
    placement: str
    side: str
    start_us: int
    end_us: int | None

    @property
    def open(self) -> bool:
        return self.end_us is None

    def to_point(self) -> Point:
        """The `session` point: at the start, tags to select by, the rest as fields.

        Stopping writes the same series and timestamp again with `end_us`: InfluxDB merges
        the fields of a point written twice, so the open session becomes the closed one.
        """
        fields: dict[str, str | int] = {
            "session_id": self.id,
            "task_id": self.task_id,
            "task_info": self.task_info,
            "placement": self.placement,
            "side": self.side,
        }
        if self.end_us is not None:
            fields["end_us"] = self.end_us
        tags = {"subject": self.subject, "task": self.task, "device": self.device}
        return Point("session", tags, fields, self.start_us)

    def line(self) -> str:
        return encode_point(self.to_point())


def _session(row: sqlite3.Row) -> Session:
    return Session(**{name: row[name] for name in row.keys()})  # noqa: SIM118


class SessionStore:
    """Sessions in the registry database (see `db.open_registry`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def start(
        self,
        *,
        subject: str,
        task: str,
        device: str,
        placement: str,
        side: str = "",
        start_us: int,
        task_id: str | None = None,
        task_info: str = "",
    ) -> Session:
        check_subject(subject)
        check_task(task)
        check_task(task_id or task, "task id")
        if task_info and not _INFO.fullmatch(task_info):
            raise SessionError(
                f"task info {task_info!r} must be key:value pairs joined by ',' "
                "(e.g. speed_m_s:1.2,incline_deg:0)"
            )
        if not valid_device_id(device):
            raise SessionError(f"device id {device!r} is not [a-z0-9-], 1-32 chars")
        if placement not in PLACEMENTS:
            raise SessionError(f"placement {placement!r} is not one of {', '.join(PLACEMENTS)}")
        if placement == "lower_back" and side:
            raise SessionError("a lower-back sensor has no side: leave --side out")
        if placement != "lower_back" and side not in SIDES:
            raise SessionError(f"a {placement} sensor needs --side left or --side right")
        try:
            with self._conn:
                cur = self._conn.execute(
                    "INSERT INTO session (subject, task, task_id, task_info, device, placement,"
                    " side, start_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (subject, task, task_id or task, task_info, device, placement, side,
                     start_us),
                )  # fmt: skip
        except sqlite3.IntegrityError:
            open_one = self.open_for(device)
            raise SessionError(
                f"device {device} is already in open session {open_one.id if open_one else '?'}"
                f": stop it first (gaitlink session stop {open_one.id if open_one else 'ID'})"
            ) from None
        return self.get(cur.lastrowid)

    def stop(self, session_id: int, *, end_us: int) -> Session:
        session = self.get(session_id)
        if not session.open:
            raise SessionError(f"session {session_id} was already stopped")
        if end_us <= session.start_us:
            raise SessionError(f"session {session_id} cannot end before it started")
        with self._conn:
            self._conn.execute("UPDATE session SET end_us = ? WHERE id = ?", (end_us, session_id))
        return self.get(session_id)

    def get(self, session_id: int) -> Session:
        row = self._conn.execute("SELECT * FROM session WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionError(f"no session {session_id}: `gaitlink session list` shows them")
        return _session(row)

    def open_for(self, device: str) -> Session | None:
        row = self._conn.execute(
            "SELECT * FROM session WHERE device = ? AND end_us IS NULL", (device,)
        ).fetchone()
        return _session(row) if row else None

    def list(
        self, *, subject: str | None = None, task: str | None = None, open_only: bool = False
    ) -> list[Session]:
        where, args = [], []
        if subject:
            where.append("subject = ?")
            args.append(subject)
        if task:
            where.append("task = ?")
            args.append(task)
        if open_only:
            where.append("end_us IS NULL")
        sql = "SELECT * FROM session"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_session(r) for r in self._conn.execute(sql + " ORDER BY start_us, id", args)]
