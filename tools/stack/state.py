"""The state dir of a stack: where it is, its stack.json record, and its lock.

stack.json remembers the ports and database the stack uses and, for each component this
stack started, the identity of its process, so `down` stops exactly those processes.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gaitlink.tools.stack.errors import StackError
from gaitlink.tools.stack.process import ProcessIdentity

STATE_DIR_ENV = "GAITLINK_STATE_DIR"
_FORMAT_VERSION = 1


def source_checkout() -> Path | None:
    """The repository root when gaitlink runs from a checkout (editable install), else None."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "gaitlink" / "__init__.py").is_file():
        return root
    return None


def default_state_dir() -> Path:
    """$GAITLINK_STATE_DIR; else .gaitlink/ in a checkout; else the XDG state dir.

    An installed wheel lives in site-packages, which is no place for broker data, and may
    be read-only: outside a checkout the state follows the XDG base-directory convention
    ($XDG_STATE_HOME/gaitlink, by default ~/.local/state/gaitlink).
    """
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    checkout = source_checkout()
    if checkout is not None:
        return checkout / ".gaitlink"
    xdg = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(xdg) / "gaitlink"


@dataclass
class StackRecord:
    ports: dict[str, int] = field(default_factory=dict)
    database: str | None = None
    processes: dict[str, ProcessIdentity] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _FORMAT_VERSION,
            "ports": self.ports,
            "database": self.database,
            "processes": {name: asdict(ident) for name, ident in self.processes.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackRecord:
        return cls(
            ports={k: int(v) for k, v in data.get("ports", {}).items()},
            database=data.get("database"),
            processes={k: ProcessIdentity(**v) for k, v in data.get("processes", {}).items()},
        )


def record_path(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def load(state_dir: Path) -> StackRecord:
    path = record_path(state_dir)
    try:
        return StackRecord.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return StackRecord()
    except (ValueError, TypeError, KeyError) as exc:
        raise StackError(
            f"{path} is unreadable ({exc}). If no mosquitto or influxd of this state dir "
            f"runs (`ps -ef | grep {state_dir}`), delete it and run `gaitlink stack up` again."
        ) from exc


def save(state_dir: Path, record: StackRecord) -> None:
    # Write then rename: a crash mid-write must not leave a half file that hides which
    # processes are ours.
    path = record_path(state_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n")
    tmp.replace(path)


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Serialise `up`, `down`, start and stop of one state dir across processes."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "stack.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
