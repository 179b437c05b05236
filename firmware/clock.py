# Wall clock in Unix epoch microseconds: the port's RTC plus an offset that a time beacon
# (or NTP) sets. Sample times come from the tick schedule; this only anchors them.
import time

# ports whose time epoch is 2000-01-01 (older ESP32 builds) need the Unix offset
_EPOCH_SHIFT_S = 0 if time.gmtime(0)[0] == 1970 else 946684800
_EPOCH_SHIFT_US = _EPOCH_SHIFT_S * 1000000
_MIN_STEP_US = 50000  # ignore beacon corrections smaller than this once synced


class Clock:
    def __init__(self):
        self.offset_us = 0
        self.synced = False

    def raw_us(self):
        return time.time_ns() // 1000 + _EPOCH_SHIFT_US

    def now_us(self):
        return self.raw_us() + self.offset_us

    def set_us(self, t_us):
        # returns True when the clock moved; small corrections once synced would only make
        # frame times jitter, so they are ignored
        delta = t_us - self.now_us()
        if self.synced and -_MIN_STEP_US < delta < _MIN_STEP_US:
            return False
        self.offset_us += delta
        self.synced = True
        return True


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
