# InvenSense MPU-6050 6-axis IMU on I2C (register map rev 4.2). Handed its bus.
import time

from micropython import const

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_XOUT_H = const(0x3B)
_PWR_MGMT_1 = const(0x6B)
_WHO_AM_I = const(0x75)
_DLPF_44HZ = const(3)  # gyro output rate 1 kHz, ~44 Hz bandwidth: below Nyquist at 100 Hz

_G = 9.80665
_RAD_PER_DEG = 0.017453292519943295
ACC_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
_ACC_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
_GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)
COUNT_MAX = const(32767)
COUNT_MIN = const(-32768)


class MPU6050:
    def __init__(self, i2c, addr=0x68):
        self.i2c = i2c
        self.addr = addr
        self._buf = bytearray(14)  # ax ay az temp gx gy gz, big-endian
        self._b1 = bytearray(1)
        who = self._read8(_WHO_AM_I)
        if who != 0x68:
            raise OSError("MPU6050 not found at 0x%02x (WHO_AM_I 0x%02x)" % (addr, who))
        self.acc_scale = 0.0
        self.gyro_scale = 0.0

    def _read8(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._b1)
        return self._b1[0]

    def _write8(self, reg, value):
        self._b1[0] = value
        self.i2c.writeto_mem(self.addr, reg, self._b1)

    def configure(self, rate_hz, acc_range_g, gyro_range_dps):
        afs = ACC_RANGES_G.index(acc_range_g)
        fs = GYRO_RANGES_DPS.index(gyro_range_dps)
        div = 1000 // rate_hz - 1
        if not 0 <= div <= 255 or 1000 % rate_hz:
            raise ValueError("rate_hz")
        self._write8(_PWR_MGMT_1, 0x80)  # device reset
        time.sleep_ms(100)
        self._write8(_PWR_MGMT_1, 0x01)  # wake, clock from the X gyro PLL
        self._write8(_CONFIG, _DLPF_44HZ)
        self._write8(_SMPLRT_DIV, div)
        self._write8(_GYRO_CONFIG, fs << 3)
        self._write8(_ACCEL_CONFIG, afs << 3)
        self.acc_scale = _G / _ACC_LSB_PER_G[afs]  # m/s^2 per count
        self.gyro_scale = _RAD_PER_DEG / _GYRO_LSB_PER_DPS[fs]  # rad/s per count

    def read_into(self, out):
        # one burst read of the data block into out[0..5] (ax ay az gx gy gz counts);
        # no allocation. Raises OSError if the bus read fails.
        b = self._buf
        self.i2c.readfrom_mem_into(self.addr, _ACCEL_XOUT_H, b)
        for j in range(6):
            i = 2 * j if j < 3 else 2 * j + 2  # skip TEMP_OUT at bytes 6-7
            v = (b[i] << 8) | b[i + 1]
            out[j] = v - 65536 if v & 0x8000 else v

    def temperature(self):
        # die temperature of the last data read, degC
        v = (self._buf[6] << 8) | self._buf[7]
        if v & 0x8000:
            v -= 65536
        return v / 340 + 36.53
