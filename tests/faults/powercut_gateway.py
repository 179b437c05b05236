"""`gaitlink gateway run` that loses power in the middle of its Nth spool commit.

Run as `python tests/faults/powercut_gateway.py N ARGS...`. At the Nth commit that writes
anything, the commit's WAL frames are written and then "never reach the disk": the WAL is
cut back to its length before the commit (SQLite appends whole commits to the WAL, so
that is exactly the state a power cut between write() and fsync() can leave), the
never-synced wal-index is removed, and the process dies by SIGKILL before acking the site
broker. Nothing else is changed, so the test exercises the real gateway's recovery.
"""

import os
import signal
import sys
from pathlib import Path

from gaitlink.gateway.spool import Spool
from gaitlink.tools.cli import main

_real_commit = Spool.commit
_commits_left = int(sys.argv.pop(1))


def _commit_then_lose_power(self: Spool) -> float:
    global _commits_left
    wal = Path(f"{self.path}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    took = _real_commit(self)
    after = wal.stat().st_size if wal.exists() else 0
    if after > before:  # a commit that appended to the WAL (not one after a WAL reset)
        _commits_left -= 1
        if _commits_left <= 0:
            os.truncate(wal, before)
            Path(f"{self.path}-shm").unlink(missing_ok=True)
            print(f"power cut: WAL cut back from {after} to {before} bytes", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    return took


Spool.commit = _commit_then_lose_power
sys.exit(main(["gateway", "run", *sys.argv[1:]]))
