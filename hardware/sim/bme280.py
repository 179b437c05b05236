# Register-level model of the Bosch BME280 (datasheet rev 1.6) in I2C mode.
#
# Calibration registers hold a fixed trimming set (the datasheet's worked example for
# temperature and pressure, typical values for humidity). A measurement (a write of
# ctrl_meas with mode "forced", or any burst read of the data block in "normal" mode) takes
# reading m = 0, 1, 2, ... from hardware.sim.climate and stores the raw ADC values that the
# datasheet's floating-point compensation (section 8.1) turns back into those physical
# values: the model searches the 20-bit (16-bit for humidity) ADC code whose compensated
# value is nearest. The firmware driver uses the integer formulas (section 4.2.3), an
# independent implementation, so a test of one against the other is meaningful.
#
# Writes follow the BME280 I2C protocol: the first data byte goes to the addressed
# register, further bytes come in (register, value) pairs; there is no auto-increment.
import struct

from . import climate

CHIP_ID = 0x60
REG_CALIB00 = 0x88
REG_CALIB26 = 0xE1
REG_ID = 0xD0
REG_RESET = 0xE0
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_CONFIG = 0xF5
REG_DATA = 0xF7

T1, T2, T3 = 27504, 26435, -1000
P = (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
H1, H2, H3, H4, H5, H6 = 75, 362, 0, 313, 50, 30


def t_fine(adc_t):
    v1 = (adc_t / 16384.0 - T1 / 1024.0) * T2
    d = adc_t / 131072.0 - T1 / 8192.0
    return v1 + d * d * T3


def temperature(adc_t):
    return t_fine(adc_t) / 5120.0


def pressure_hpa(adc_p, tf):
    v1 = tf / 2.0 - 64000.0
    v2 = v1 * v1 * P[5] / 32768.0
    v2 = v2 + v1 * P[4] * 2.0
    v2 = v2 / 4.0 + P[3] * 65536.0
    v1 = (P[2] * v1 * v1 / 524288.0 + P[1] * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * P[0]
    p = 1048576.0 - adc_p
    p = (p - v2 / 4096.0) * 6250.0 / v1
    v1 = P[8] * p * p / 2147483648.0
    v2 = p * P[7] / 32768.0
    return (p + (v1 + v2 + P[6]) / 16.0) / 100.0


def humidity(adc_h, tf):
    h = tf - 76800.0
    h = (adc_h - (H4 * 64.0 + H5 / 16384.0 * h)) * (
        H2 / 65536.0 * (1.0 + H6 / 67108864.0 * h * (1.0 + H3 / 67108864.0 * h))
    )
    h = h * (1.0 - H1 * h / 524288.0)
    return min(100.0, max(0.0, h))


def _search(fn, target, hi, increasing):
    # nearest integer code in [0, hi] for a monotonic fn
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (fn(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return lo if abs(fn(lo) - target) <= abs(fn(hi) - target) else hi


def raw_for(t_c, rh, p_hpa):
    # raw (adc_t, adc_p, adc_h) that compensate to the given physical values
    adc_t = _search(temperature, t_c, 0xFFFFF, True)
    tf = t_fine(adc_t)
    adc_p = _search(lambda a: pressure_hpa(a, tf), p_hpa, 0xFFFFF, False)
    adc_h = _search(lambda a: humidity(a, tf), rh, 0xFFFF, True)
    return adc_t, adc_p, adc_h


class BME280Sim:
    def __init__(self, seed, addr=0x76):
        self.addr = addr
        self.seed = seed
        self.m = 0
        self.regs = bytearray(256)
        self.reset()

    def reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        struct.pack_into("<HhhHhhhhhhhh", r, REG_CALIB00, T1, T2, T3, *P)
        r[0xA1] = H1
        struct.pack_into("<hB", r, REG_CALIB26, H2, H3)
        r[0xE4] = (H4 >> 4) & 0xFF
        r[0xE5] = (H4 & 0x0F) | ((H5 & 0x0F) << 4)
        r[0xE6] = (H5 >> 4) & 0xFF
        struct.pack_into("<b", r, 0xE7, H6)
        r[REG_ID] = CHIP_ID
        # data registers after reset: 0x80000 (temperature, pressure), 0x8000 (humidity)
        r[REG_DATA] = 0x80
        r[REG_DATA + 3] = 0x80
        r[REG_DATA + 6] = 0x80

    def _measure(self):
        t, rh, p = climate.reading(self.seed, self.m)
        self.m += 1
        adc_t, adc_p, adc_h = raw_for(t, rh, p)
        meas = self.regs[REG_CTRL_MEAS]
        if not meas >> 5:
            adc_t = 0x80000  # temperature skipped
        if not (meas >> 2) & 7:
            adc_p = 0x80000
        if not self.regs[REG_CTRL_HUM] & 7:
            adc_h = 0x8000
        r = self.regs
        r[REG_DATA] = adc_p >> 12
        r[REG_DATA + 1] = (adc_p >> 4) & 0xFF
        r[REG_DATA + 2] = (adc_p & 0x0F) << 4
        r[REG_DATA + 3] = adc_t >> 12
        r[REG_DATA + 4] = (adc_t >> 4) & 0xFF
        r[REG_DATA + 5] = (adc_t & 0x0F) << 4
        r[REG_DATA + 6] = adc_h >> 8
        r[REG_DATA + 7] = adc_h & 0xFF

    def read(self, reg, buf):
        n = len(buf)
        if self.regs[REG_CTRL_MEAS] & 3 == 3 and reg <= REG_DATA < reg + n:
            self._measure()
        for i in range(n):
            buf[i] = self.regs[(reg + i) & 0xFF]

    def _write_reg(self, reg, v):
        if reg == REG_RESET:
            if v == 0xB6:
                self.reset()
        elif reg in (REG_CTRL_HUM, REG_CONFIG):
            self.regs[reg] = v
        elif reg == REG_CTRL_MEAS:
            self.regs[reg] = v
            if v & 3 in (1, 2):
                self._measure()  # instantaneous; status.measuring never reads 1
                self.regs[reg] = v & 0xFC  # back to sleep mode, as after a forced conversion

    def write(self, reg, data):
        if not len(data):
            return
        self._write_reg(reg, data[0])
        i = 1
        while i + 1 < len(data):
            self._write_reg(data[i], data[i + 1])
            i += 2
