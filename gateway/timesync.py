"""Whether the kernel clock is synchronised (by systemd-timesyncd, chrony or ntpd).

Read with adjtimex(2) in read-only mode (modes = 0), which needs no privilege: the kernel
returns TIME_ERROR (5) while the clock is unsynchronised (STA_UNSYNC set). The time beacon
carries the answer so a device, and through its flag the cloud, can tell a gateway clock
that was never set from one that is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_TIME_ERROR = 5
# struct timex is 208 bytes on 64-bit Linux; a larger zeroed buffer leaves room everywhere.
_TIMEX_BYTES = 512


@functools.cache
def _adjtimex():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    return getattr(libc, "adjtimex", None)


def ntp_synchronized() -> bool | None:
    """True / False from the kernel; None where adjtimex is not available."""
    adjtimex = _adjtimex()
    if adjtimex is None:
        return None
    buf = ctypes.create_string_buffer(_TIMEX_BYTES)  # modes = 0: read only
    state = adjtimex(buf)
    if state < 0:
        return None
    return state != _TIME_ERROR
