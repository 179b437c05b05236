# Warped poll timeouts for off-board runs (see time.py here): asyncio waits for I/O with
# poll.ipoll(ms) until its next task is due on the warped clock; that wait is W times
# shorter in real time.
import os

import uselect

_W = int(os.getenv("GAITLINK_WARP") or 1)
POLLIN = uselect.POLLIN
POLLOUT = uselect.POLLOUT
POLLERR = uselect.POLLERR
POLLHUP = uselect.POLLHUP


def _real(ms):
    return ms if ms < 0 else ms // _W


class _Poll:
    def __init__(self):
        self._p = uselect.poll()

    def register(self, obj, *mask):
        self._p.register(obj, *mask)

    def modify(self, obj, mask):
        self._p.modify(obj, mask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def poll(self, timeout=-1):
        return self._p.poll(_real(timeout))

    def ipoll(self, timeout=-1, flags=0):
        return self._p.ipoll(_real(timeout), flags)


def poll():
    return _Poll()
