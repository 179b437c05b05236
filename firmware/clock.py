# Time on the device.
#
# Clock: wall time in Unix epoch µs = the port's RTC + an offset that time beacons (or NTP)
# correct. A correction is slewed, not stepped: the offset moves towards the measured error
# by at most SLEW_US_PER_S per second, so sample times never jump (and never run backwards,
# since the slew is far below the 1 s per second time runs at). Only an error above
# STEP_US (or the first sync after boot) steps the offset.
#
# SampleClock: the time of the sensor's sample k. The sensor's own sample clock drifts
# against the host's, so its period is measured: the host time of an observation "the
# sensor has taken K samples so far" against K, from the first observation (the anchor)
# to the latest. The time of sample k is then anchor time + (k - anchor count) * period,
# computed in integer µs (no float: an ESP32's f32 cannot hold epoch µs).
import time

from micropython import const

# ports whose time epoch is 2000-01-01 (older ESP32 builds) need the Unix offset
_EPOCH_SHIFT_S = 0 if time.gmtime(0)[0] == 1970 else 946684800
_EPOCH_SHIFT_US = _EPOCH_SHIFT_S * 1000000
STEP_US = const(1000000)  # errors above 1 s are stepped
SLEW_US_PER_S = const(1000)  # 1 ms per second (1000 ppm), well above a crystal's drift
_MIN_SPAN = const(200)  # samples before the measured period replaces the nominal one
_WINDOW = const(16)  # observations per envelope point


class Clock:
    def __init__(self):
        self._offset = 0
        self._left = 0  # correction still to be slewed in, µs
        self._t = time.ticks_ms()
        self.synced = False
        self.steps = 0
        self.slews = 0
        self.last_error_us = 0

    def raw_us(self):
        return time.time_ns() // 1000 + _EPOCH_SHIFT_US

    def offset_us(self):
        left = self._left
        if left:
            now = time.ticks_ms()
            d = time.ticks_diff(now, self._t) * SLEW_US_PER_S // 1000
            self._t = now
            if d >= abs(left):
                self._offset += left
                self._left = 0
            else:
                d = d if left > 0 else -d
                self._offset += d
                self._left = left - d
        return self._offset

    def now_us(self):
        return self.raw_us() + self.offset_us()

    def set_us(self, t_us):
        # a measurement of the true time: slews towards it, or steps on a large error
        # (and on the first sync). Returns True if the clock was stepped.
        err = t_us - self.now_us()
        self.last_error_us = err
        if not self.synced or not -STEP_US <= err <= STEP_US:
            self._offset += err
            self._left = 0
            self.synced = True
            self.steps += 1
            return True
        self._left = err  # replaces the old target: err is measured against the slewed time
        self._t = time.ticks_ms()
        self.slews += 1
        return False


class SampleClock:
    # Observations say: at host time x (µs since the first observation), the sensor had
    # taken K samples, the newest within one period before x. The one with the smallest
    # residual against the current line in each window of WINDOW observations was taken
    # just after a sample: those points (the lower envelope) carry sub-period accuracy.
    # The period is the slope from the first window's point to the latest window's point;
    # times are extrapolated from the latest point, so errors never accumulate.
    def __init__(self, period_us):
        self.nominal_us = period_us
        self.k0 = None  # count at the first observation (None: not anchored yet)
        self._last = 0  # host ticks_us of the latest observation
        self._x = 0  # µs from the first to the latest observation
        self._xa = self._ka = 0  # the first window's point
        self._xb = self._kb = 0  # the latest window's point
        self._wx = self._wk = None  # the best point of the window being collected
        self._wn = 0
        self._windows = 0

    def _slope(self):
        # the period as (numerator, denominator)
        dk = self._kb - self._ka
        if dk < _MIN_SPAN:
            return self.nominal_us, 1
        return self._xb - self._xa, dk

    def observe(self, ticks, count):
        # at host time `ticks` the sensor had taken `count` samples. Observations must come
        # less than half a tick wrap apart (2^29 µs on an ESP32).
        if self.k0 is None:
            self.k0 = self._ka = self._kb = count
            self._last = ticks
            return
        self._x += time.ticks_diff(ticks, self._last)
        self._last = ticks
        num, den = self._slope()
        r = self._x * den - (count - self._kb) * num
        if self._wx is None or r < self._wx * den - (self._wk - self._kb) * num:
            self._wx = self._x
            self._wk = count
            if not self._windows:  # until the first window is complete: the best so far
                self._xa = self._xb = self._x
                self._ka = self._kb = count
        self._wn += 1
        if self._wn >= _WINDOW:
            if not self._windows:
                self._xa, self._ka = self._wx, self._wk
            self._xb, self._kb = self._wx, self._wk
            self._windows += 1
            self._wx = None
            self._wn = 0

    def period_us(self):
        num, den = self._slope()
        return num / den

    def rel_us(self, k):
        # host µs of sample k after the first observation
        num, den = self._slope()
        return self._xb + ((k - self._kb + 1) * num) // den

    def count_at(self, ticks):
        # the sample count expected at host time `ticks` (after a gap: resynchronisation)
        num, den = self._slope()
        x = self._x + time.ticks_diff(ticks, self._last)
        return self._kb + ((x - self._xb) * den) // num


def iso(t_us, millis=True):
    # RFC 3339 UTC with Z; t_us is Unix epoch microseconds
    s = t_us // 1000000
    t = time.gmtime(s - _EPOCH_SHIFT_S)
    if millis:
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
            t[0],
            t[1],
            t[2],
            t[3],
            t[4],
            t[5],
            (t_us // 1000) % 1000,
        )
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])
