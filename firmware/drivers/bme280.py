# Bosch BME280 temperature / humidity / pressure sensor on I2C (datasheet rev 1.6), using
# the datasheet's integer compensation (section 4.2.3). Handed its bus. Forced mode: one
# measurement per trigger(), which suits readings every few seconds and saves power.
import struct
import time

from micropython import const

_REG_CALIB00 = const(0x88)
_REG_CALIB26 = const(0xE1)
_REG_ID = const(0xD0)
_REG_RESET = const(0xE0)
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_CONFIG = const(0xF5)
_REG_DATA = const(0xF7)
_CHIP_ID = const(0x60)
# oversampling x1 for all three, forced mode: 9.3 ms max conversion (datasheet 9.1)
_OSRS_H = const(1)
_CTRL_MEAS_FORCED = const((1 << 5) | (1 << 2) | 1)
MEASURE_MS = const(10)


class BME280:
    def __init__(self, i2c, addr=0x76):
        self.i2c = i2c
        self.addr = addr
        self._b1 = bytearray(1)
        self._data = bytearray(8)
        chip = self._read8(_REG_ID)
        if chip != _CHIP_ID:
            raise OSError("BME280 not found at 0x%02x (id 0x%02x)" % (addr, chip))
        self._write8(_REG_RESET, 0xB6)
        time.sleep_ms(3)
        # calibration: read once into buffers that are dropped after unpacking
        c = bytearray(26)
        self.i2c.readfrom_mem_into(addr, _REG_CALIB00, c)
        self.t = struct.unpack_from("<Hhh", c, 0)
        self.p = struct.unpack_from("<Hhhhhhhhh", c, 6)
        self.h1 = c[25]
        e = bytearray(7)
        self.i2c.readfrom_mem_into(addr, _REG_CALIB26, e)
        self.h2, self.h3 = struct.unpack_from("<hB", e, 0)
        h4 = (e[3] << 4) | (e[4] & 0x0F)
        h5 = (e[5] << 4) | (e[4] >> 4)
        self.h4 = h4 - 4096 if h4 & 0x800 else h4  # signed 12-bit
        self.h5 = h5 - 4096 if h5 & 0x800 else h5
        self.h6 = struct.unpack_from("<b", e, 6)[0]
        self._write8(_REG_CTRL_HUM, _OSRS_H)  # takes effect with the next ctrl_meas write
        self._write8(_REG_CONFIG, 0)

    def _read8(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._b1)
        return self._b1[0]

    def _write8(self, reg, value):
        self._b1[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._b1)

    def trigger(self):
        self._write8(_REG_CTRL_MEAS, _CTRL_MEAS_FORCED)

    def busy(self):
        return bool(self._read8(_REG_STATUS) & 0x08)

    def read(self):
        # (degC, %RH, hPa) of the last measurement
        d = self._data
        self.i2c.readfrom_mem_into(self.addr, _REG_DATA, d)
        adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        adc_h = (d[6] << 8) | d[7]
        t_fine = self._t_fine(adc_t)
        return (
            ((t_fine * 5 + 128) >> 8) / 100,
            self._humidity(adc_h, t_fine) / 1024,
            self._pressure(adc_p, t_fine) / 25600,
        )

    def _t_fine(self, adc_t):
        t1, t2, t3 = self.t
        v1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
        d = (adc_t >> 4) - t1
        v2 = (((d * d) >> 12) * t3) >> 14
        return v1 + v2

    def _pressure(self, adc_p, t_fine):
        # Pa as Q24.8 (the datasheet's 64-bit formula)
        p1, p2, p3, p4, p5, p6, p7, p8, p9 = self.p
        v1 = t_fine - 128000
        v2 = v1 * v1 * p6
        v2 = v2 + ((v1 * p5) << 17)
        v2 = v2 + (p4 << 35)
        v1 = ((v1 * v1 * p3) >> 8) + ((v1 * p2) << 12)
        v1 = (((1 << 47) + v1) * p1) >> 33
        if v1 == 0:
            return 0  # avoid division by zero (datasheet)
        p = 1048576 - adc_p
        p = (((p << 31) - v2) * 3125) // v1
        v1 = (p9 * (p >> 13) * (p >> 13)) >> 25
        v2 = (p8 * p) >> 19
        return ((p + v1 + v2) >> 8) + (p7 << 4)

    def _humidity(self, adc_h, t_fine):
        # %RH as Q22.10 (the datasheet's 32-bit formula)
        x = t_fine - 76800
        x = ((((adc_h << 14) - (self.h4 << 20) - (self.h5 * x)) + 16384) >> 15) * (
            (
                (((((x * self.h6) >> 10) * (((x * self.h3) >> 11) + 32768)) >> 10) + 2097152)
                * self.h2
                + 8192
            )
            >> 14
        )
        x = x - (((((x >> 15) * (x >> 15)) >> 7) * self.h1) >> 4)
        if x < 0:
            x = 0
        if x > 419430400:
            x = 419430400
        return x >> 12
