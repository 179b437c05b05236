# Tick helpers for the register models, the same under MicroPython (the port's time, which
# a warp shadow may speed up) and CPython (monotonic time, times GAITLINK_WARP, so that a
# simulator served to a warped firmware keeps the firmware's pace).
import time

try:
    ticks_us = time.ticks_us
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
except AttributeError:  # CPython
    import os

    _WARP = int(os.environ.get("GAITLINK_WARP") or 1)
    _T0 = time.monotonic_ns()

    def ticks_us():
        return (time.monotonic_ns() - _T0) * _WARP // 1000

    def ticks_ms():
        return ticks_us() // 1000

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b
