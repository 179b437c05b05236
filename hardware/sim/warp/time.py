# Warped time for off-board runs: shadows the port's `time` (tools/device.py puts this
# folder on MICROPYPATH when GAITLINK_WARP = W > 1), so the firmware's ticks, wall clock and
# sleeps run W times faster than real time and a 2-hour run takes 2/W hours. The simulator
# (hardware/simbus.py) warps its clock by the same W. Never deployed to a board.
import os

import utime

_W = int(os.getenv("GAITLINK_WARP") or 1)
_T0 = utime.ticks_us()
_N0 = utime.time_ns()
gmtime = utime.gmtime
localtime = utime.localtime
mktime = utime.mktime
ticks_add = utime.ticks_add
ticks_diff = utime.ticks_diff


def ticks_us():
    return utime.ticks_add(_T0, utime.ticks_diff(utime.ticks_us(), _T0) * _W)


def ticks_ms():
    return ticks_us() // 1000


def ticks_cpu():
    return ticks_us()


def time_ns():
    return _N0 + (utime.time_ns() - _N0) * _W


def time():
    return time_ns() // 1000000000


def sleep_ms(ms):
    utime.sleep_ms(ms // _W)


def sleep_us(us):
    utime.sleep_us(us // _W)


def sleep(s):
    utime.sleep_us(int(s * 1000000) // _W)
