"""Starting, recognising and stopping the server processes of the stack.

A pid alone is not an identity: after a reboot or a crash the pid in stack.json may belong
to an unrelated process. A process is ours only if its pid, its start time (field 22 of
/proc/PID/stat) and the kernel boot id all match what was recorded when we started it.
Linux only, like the rest of the stack.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    pid: int
    start_time: int
    boot_id: str


def boot_id() -> str:
    return _BOOT_ID_PATH.read_text().strip()


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state, start_time) of a process, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after the last
    # ")" are plain numbers. After it: state is field 3, start time field 22.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def identify(pid: int) -> ProcessIdentity | None:
    stat = _read_stat(pid)
    if stat is None:
        return None
    return ProcessIdentity(pid=pid, start_time=stat[1], boot_id=boot_id())


def _is_exiting_zombie(pid: int) -> bool:
    # A multi-threaded server (influxd is Go) shows its main thread as a zombie while its
    # other threads still finish exiting and still hold its listening sockets, so a zombie
    # counts as gone only once it is fully dead.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        # Not our child (its parent reaps it): fully dead once only the main thread is left.
        try:
            return len(os.listdir(f"/proc/{pid}/task")) > 1
        except FileNotFoundError:
            return False
    # Our child: reaping it also keeps it from lingering as a zombie. It cannot be reaped
    # (0) while threads are still exiting.
    return reaped == 0


def is_running(identity: ProcessIdentity) -> bool:
    """True while the process we started exists, including while it is still exiting."""
    stat = _read_stat(identity.pid)
    if stat is None or stat[1] != identity.start_time or boot_id() != identity.boot_id:
        return False
    if stat[0] == "Z":
        return _is_exiting_zombie(identity.pid)
    return True


def spawn(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> ProcessIdentity:
    """Start a long-running server with stdout and stderr appended to log_path.

    posix_spawn rather than subprocess.Popen: the server must outlive `gaitlink stack up`,
    and a Popen object dropped while its child runs raises ResourceWarning (an error under
    pytest's warnings-as-errors). setsid keeps a Ctrl-C in the user's terminal away from it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write(f"--- gaitlink stack: starting {' '.join(argv)} at {time.ctime()}\n")
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(
        argv[0],
        list(argv),
        dict(os.environ if env is None else env),
        file_actions=file_actions,
        setsid=True,
        # Python ignores SIGPIPE/SIGXFSZ and ignored signals survive exec; servers expect
        # the defaults (subprocess's restore_signals does the same).
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )
    identity = identify(pid)
    if identity is None:  # cannot happen: an unreaped child stays in /proc
        raise RuntimeError(f"process {pid} vanished right after spawn")
    return identity


def send_signal(identity: ProcessIdentity, sig: signal.Signals) -> bool:
    """Signal the process only if it still is the one we started. True if signalled."""
    try:
        pidfd = os.pidfd_open(identity.pid)
    except ProcessLookupError:
        return False
    try:
        # The pidfd pins the process, so the identity check below cannot race a pid reuse.
        if not is_running(identity):
            return False
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


def wait_exit(identity: ProcessIdentity, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(identity):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


def terminate(identity: ProcessIdentity, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after timeout. True if our process was running."""
    if not send_signal(identity, signal.SIGTERM):
        return False
    if not wait_exit(identity, timeout):
        send_signal(identity, signal.SIGKILL)
        wait_exit(identity, timeout)
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log file at {path})"
    return "\n".join(text.splitlines()[-lines:])
