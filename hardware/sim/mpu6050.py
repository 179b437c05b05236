# Register-level model of the InvenSense MPU-6050 (register map rev 4.2).
#
# Data-ready model: the sensor is sample-index driven, not time driven. Every read
# transaction whose register range includes ACCEL_XOUT_H (0x3B) latches the next sample k
# (k = 0, 1, 2, ...) from hardware.sim.motion into the data registers 0x3B..0x48, as the
# MPU-6050 FIFO would hand out consecutive samples. So the k-th burst read of the data
# block returns sample k, whatever the timing of the reads, and a host test can compute
# every expected count from (seed, k). The sample time t = k / rate follows the rate the
# registers select: gyro output rate (8 kHz if DLPF_CFG is 0 or 7, else 1 kHz) divided by
# (1 + SMPLRT_DIV). INT_STATUS.DATA_RDY always reads 1 (a sample is always ready).
import math

from . import motion

SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
INT_STATUS = 0x3A
ACCEL_XOUT_H = 0x3B
TEMP_OUT_H = 0x41
PWR_MGMT_1 = 0x6B
WHO_AM_I = 0x75

# datasheet sensitivities, index = FS_SEL / AFS_SEL
ACC_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)
_RAD_PER_DEG = math.pi / 180.0


def counts(value, lsb):
    # physical value -> int16 count as the ADC saturates
    c = round(value / lsb)
    if c > 32767:
        return 32767
    if c < -32768:
        return -32768
    return c


class MPU6050Sim:
    def __init__(self, seed, addr=0x68, temperature_c=24.0):
        self.addr = addr
        self.seed = seed
        self.temperature_c = temperature_c
        self.regs = bytearray(128)
        self.k = 0
        self.reset()

    def reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        r[PWR_MGMT_1] = 0x40  # SLEEP after power-up
        r[WHO_AM_I] = 0x68  # fixed 0x68 whatever AD0 is
        r[INT_STATUS] = 0x01

    @property
    def sleeping(self):
        return bool(self.regs[PWR_MGMT_1] & 0x40)

    def rate_hz(self):
        dlpf = self.regs[CONFIG] & 0x07
        base = 8000.0 if dlpf in (0, 7) else 1000.0
        return base / (1 + self.regs[SMPLRT_DIV])

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

    def _put16(self, reg, value):
        value &= 0xFFFF
        self.regs[reg] = value >> 8  # big-endian, as on the chip
        self.regs[reg + 1] = value & 0xFF

    def _latch(self):
        c = self.expected_counts(self.k)
        self.k += 1
        self._put16(ACCEL_XOUT_H, c[0])
        self._put16(ACCEL_XOUT_H + 2, c[1])
        self._put16(ACCEL_XOUT_H + 4, c[2])
        self._put16(TEMP_OUT_H, int((self.temperature_c - 36.53) * 340))
        self._put16(TEMP_OUT_H + 2, c[3])
        self._put16(TEMP_OUT_H + 4, c[4])
        self._put16(TEMP_OUT_H + 6, c[5])

    def read(self, reg, buf):
        n = len(buf)
        if not self.sleeping and reg <= ACCEL_XOUT_H < reg + n:
            self._latch()
        for i in range(n):
            buf[i] = self.regs[(reg + i) & 0x7F]

    def write(self, reg, data):
        for i in range(len(data)):
            r = (reg + i) & 0x7F
            v = data[i]
            if r == PWR_MGMT_1 and v & 0x80:
                self.reset()  # DEVICE_RESET self-clears; registers return to defaults
                continue
            if r in (WHO_AM_I, INT_STATUS) or ACCEL_XOUT_H <= r <= 0x48:
                continue  # read-only
            self.regs[r] = v
