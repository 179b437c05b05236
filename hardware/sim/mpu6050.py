# Register-level model of the InvenSense MPU-6050 (register map rev 4.2) and, as a variant,
# the MPU-6500 (WHO_AM_I 0x70, 512-byte FIFO, CONFIG.FIFO_MODE).
#
# Time model: the sensor runs on its own sample clock. Sample k (k = 0, 1, ...) is taken
# at origin + (k + 1) * period * (1 - drift_ppm / 1e6) on the host's clock (time.ticks_us),
# origin being the moment the FIFO was first enabled (or, without a FIFO, the first data
# read); its value is motion.sample(seed, k, nominal rate), so a host test can compute
# every count from (seed, k). The origin survives device resets and a sensor that drops
# off the bus and comes back (time goes on; k is the sensor's true sample index), and is
# cleared only when the rate changes. Samples are produced lazily, when a register is
# accessed: what is due by then is latched into the data registers and pushed to the FIFO.
#
# FIFO: FIFO_EN (0x23) selects accel (bit 3), temperature (bit 7) and gyro (bits 6..4);
# each sample pushes the enabled registers in address order (12 bytes for accel + gyro).
# FIFO_COUNT (0x72..0x73) is the number of bytes held; every byte read from FIFO_R_W (0x74)
# pops one. When the FIFO is full, the MPU-6050 overwrites the oldest BYTE (so the stream
# loses its sample alignment, as on the chip) and sets INT_STATUS.FIFO_OFLOW; the MPU-6500
# does the same unless CONFIG.FIFO_MODE (bit 6) is set, then new samples are dropped.
# USER_CTRL (0x6A) bit 6 enables the FIFO, bit 2 resets it (self-clearing).
# INT_STATUS (0x3A): DATA_RDY (bit 0) set by each new sample, FIFO_OFLOW (bit 4) set by an
# overflow; both cleared when INT_STATUS is read.
#
# Faults (see i2c.py for bus errors): stick(n) repeats the current sample's values for the
# next n samples; saturate(n) drives accel z and gyro y to +full scale for n samples.
import math

from . import motion
from .ticks import ticks_diff as _ticks_diff
from .ticks import ticks_us as _ticks_us

SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
FIFO_EN = 0x23
INT_STATUS = 0x3A
ACCEL_XOUT_H = 0x3B
TEMP_OUT_H = 0x41
USER_CTRL = 0x6A
PWR_MGMT_1 = 0x6B
FIFO_COUNTH = 0x72
FIFO_R_W = 0x74
WHO_AM_I = 0x75

# datasheet sensitivities, index = FS_SEL / AFS_SEL
ACC_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)
_RAD_PER_DEG = math.pi / 180.0
_READ_ONLY = (WHO_AM_I, INT_STATUS, FIFO_COUNTH, FIFO_COUNTH + 1)


def counts(value, lsb):
    # physical value -> int16 count as the ADC saturates
    c = round(value / lsb)
    if c > 32767:
        return 32767
    if c < -32768:
        return -32768
    return c


class MPU6050Sim:
    who_am_i = 0x68
    fifo_size = 1024
    has_fifo_mode = False

    def __init__(self, seed, addr=0x68, temperature_c=24.0, drift_ppm=0.0):
        self.addr = addr
        self.seed = seed
        self.temperature_c = temperature_c
        self.drift_ppm = drift_ppm
        self.regs = bytearray(128)
        self.fifo = bytearray(self.fifo_size)
        self._origin = None  # host ticks_us of the sample clock's start
        self._origin_div = -1  # SMPLRT_DIV, DLPF_CFG and rate it started with
        self._origin_dlpf = -1
        self._origin_rate = 0.0
        self.k = 0  # index of the next sample the sensor takes
        self.overflows = 0  # truth for tests: FIFO overflow events
        self._stuck = 0
        self._saturate = 0
        self._held = None
        self.reset()

    def reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[PWR_MGMT_1] = 0x40  # SLEEP after power-up
        r[WHO_AM_I] = self.who_am_i  # fixed whatever AD0 is
        self._fifo_clear()

    def _fifo_clear(self):
        self._rd = 0  # FIFO read position
        self._n = 0  # bytes held

    @property
    def sleeping(self):
        return bool(self.regs[PWR_MGMT_1] & 0x40)

    def rate_hz(self):
        dlpf = self.regs[CONFIG] & 0x07
        base = 8000.0 if dlpf in (0, 7) else 1000.0
        return base / (1 + self.regs[SMPLRT_DIV])

    def period_us(self):
        # the true period on the host's clock: a fast sensor clock (drift > 0) is shorter
        return 1e6 / self.rate_hz() * (1.0 - self.drift_ppm * 1e-6)

    def acc_lsb(self):
        # m/s^2 per count at the current AFS_SEL
        return motion.G / ACC_LSB_PER_G[(self.regs[ACCEL_CONFIG] >> 3) & 3]

    def gyro_lsb(self):
        # rad/s per count at the current FS_SEL
        return _RAD_PER_DEG / GYRO_LSB_PER_DPS[(self.regs[GYRO_CONFIG] >> 3) & 3]

    def expected_counts(self, k):
        # counts of sample k at the current configuration (used by host tests too)
        v = motion.sample(self.seed, k, self.rate_hz())
        a = self.acc_lsb()
        g = self.gyro_lsb()
        return (
            counts(v[0], a),
            counts(v[1], a),
            counts(v[2], a),
            counts(v[3], g),
            counts(v[4], g),
            counts(v[5], g),
        )

    # -- faults ---------------------------------------------------------------------------
    def stick(self, n):
        self._advance()
        self._stuck = n

    def saturate(self, n):
        self._advance()
        self._saturate = n

    # -- the sample clock -----------------------------------------------------------------
    def _start_clock(self):
        if self._origin is None:
            self._origin = _ticks_us()
            self._origin_div = self.regs[SMPLRT_DIV]
            self._origin_dlpf = self.regs[CONFIG] & 7
            self._origin_rate = self.rate_hz()
            self.k = 0

    def _advance(self):
        # produce every sample due by now
        if self._origin is None or self.sleeping or self.rate_hz() != self._origin_rate:
            return  # off, or registers still at their reset values (being set up again)
        due = int(_ticks_diff(_ticks_us(), self._origin) / self.period_us())
        if due <= self.k:
            return
        fifo_on = self.regs[USER_CTRL] & 0x40
        per = self._bytes_per_sample()
        room = self.fifo_size // per + 2 if per else 0
        if fifo_on and per and due - self.k > room:
            if self.has_fifo_mode and self.regs[CONFIG] & 0x40:
                # FIFO_MODE keeps the oldest: fill what is free, the rest is never written
                while self.k < due and self._n + per <= self.fifo_size:
                    self._latch(self.k)
                    self.k += 1
                    self._push()
                self._overflow()
                self.k = due - 1
                self._latch(self.k)
                self.k = due
                return
            # far behind: only the last FIFO-full of samples can survive; the rest are lost
            # in an overflow (the byte stream restarts, as if overwritten, misaligned)
            self.k = due - room
            self._fifo_clear()
        elif not fifo_on and due - self.k > 1:
            self.k = due - 1  # only the newest sample reaches the data registers
        while self.k < due:
            self._latch(self.k)
            self.k += 1
            if fifo_on:
                self._push()

    def _bytes_per_sample(self):
        e = self.regs[FIFO_EN]
        return (6 if e & 0x08 else 0) + (2 if e & 0x80 else 0) + 2 * bin(e & 0x70).count("1")

    def _overflow(self):
        self.overflows += 1
        self.regs[INT_STATUS] |= 0x10

    def _push(self):
        e = self.regs[FIFO_EN]
        r = self.regs
        full = self._n + self._bytes_per_sample() > self.fifo_size
        if full and self.has_fifo_mode and r[CONFIG] & 0x40:
            self._overflow()  # FIFO_MODE: a full FIFO takes no more samples
            return
        if e & 0x08:
            self._push_bytes(ACCEL_XOUT_H, 6)
        if e & 0x80:
            self._push_bytes(TEMP_OUT_H, 2)
        for i in range(3):
            if e & (0x40 >> i):
                self._push_bytes(TEMP_OUT_H + 2 + 2 * i, 2)

    def _push_bytes(self, reg, n):
        size = self.fifo_size
        f = self.fifo
        for i in range(n):
            if self._n == size:  # full: the oldest byte is overwritten
                self._rd = (self._rd + 1) % size
                self._n -= 1
                if not self.regs[INT_STATUS] & 0x10:
                    self._overflow()
            f[(self._rd + self._n) % size] = self.regs[reg + i]
            self._n += 1

    def _put16(self, reg, value):
        value &= 0xFFFF
        self.regs[reg] = value >> 8  # big-endian, as on the chip
        self.regs[reg + 1] = value & 0xFF

    def _latch(self, k):
        if self._stuck and self._held is not None:
            self._stuck -= 1
            c = self._held
        else:
            c = self.expected_counts(k)
            if self._saturate:
                self._saturate -= 1
                c = (c[0], c[1], 32767, c[3], 32767, c[5])
        self._held = c
        self._put16(ACCEL_XOUT_H, c[0])
        self._put16(ACCEL_XOUT_H + 2, c[1])
        self._put16(ACCEL_XOUT_H + 4, c[2])
        self._put16(TEMP_OUT_H, int((self.temperature_c - 36.53) * 340))
        self._put16(TEMP_OUT_H + 2, c[3])
        self._put16(TEMP_OUT_H + 4, c[4])
        self._put16(TEMP_OUT_H + 6, c[5])
        self.regs[INT_STATUS] |= 0x01

    # -- the bus interface ----------------------------------------------------------------
    def read(self, reg, buf):
        n = len(buf)
        if reg <= ACCEL_XOUT_H < reg + n and not self.regs[USER_CTRL] & 0x40:
            self._start_clock()  # polling: the clock starts at the first data read
        self._advance()
        if reg == FIFO_R_W:
            f = self.fifo
            size = self.fifo_size
            for i in range(n):
                if self._n:
                    buf[i] = f[self._rd]
                    self._rd = (self._rd + 1) % size
                    self._n -= 1
                else:
                    buf[i] = 0xFF  # reading an empty FIFO returns no data
            return
        r = self.regs
        r[FIFO_COUNTH] = self._n >> 8
        r[FIFO_COUNTH + 1] = self._n & 0xFF
        for i in range(n):
            buf[i] = r[(reg + i) & 0x7F]
        if reg <= INT_STATUS < reg + n:
            r[INT_STATUS] = 0  # read-to-clear

    def write(self, reg, data):
        self._advance()
        for i in range(len(data)):
            r = (reg + i) & 0x7F
            v = data[i]
            if r == PWR_MGMT_1 and v & 0x80:
                self.reset()  # DEVICE_RESET self-clears; registers return to defaults
                continue
            if r in _READ_ONLY or ACCEL_XOUT_H <= r <= 0x48:
                continue
            # a new rate starts a new sample clock (not the reset values being set up again)
            new_rate = v != self._origin_div and self.regs[CONFIG] & 7 == self._origin_dlpf
            if r == SMPLRT_DIV and self._origin is not None and new_rate:
                self._origin = None
            if r == USER_CTRL:
                if v & 0x04:
                    self._fifo_clear()  # FIFO_RESET self-clears
                    v &= ~0x04
                if v & 0x40:
                    self._start_clock()
            self.regs[r] = v


class MPU6500Sim(MPU6050Sim):
    who_am_i = 0x70
    fifo_size = 512
    has_fifo_mode = True
