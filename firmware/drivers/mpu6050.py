# InvenSense MPU-6050 6-axis IMU on I2C (register map rev 4.2), and the MPU-6500 (register
# compatible for what is used here: WHO_AM_I 0x70, 512-byte FIFO, a separate accel DLPF).
# Handed its bus. Samples come from the FIFO (accel + gyro, 12 bytes per sample) or, for a
# board whose sensor has no FIFO, from the data registers gated by DATA_RDY.
import time

from micropython import const

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_CONFIG2 = const(0x1D)  # MPU-6500 only
_FIFO_EN = const(0x23)
_INT_STATUS = const(0x3A)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)
_DLPF_44HZ = const(3)  # gyro output rate 1 kHz, ~44 Hz bandwidth: below Nyquist at 100 Hz
_FIFO_ACCEL_GYRO = const(0x78)  # XG YG ZG ACCEL: 12 bytes per sample, no temperature
_FIFO_ON = const(0x40)
_FIFO_RESET = const(0x04)
_FIFO_OFLOW = const(0x10)
_DATA_RDY = const(0x01)
SAMPLE_BYTES = const(12)

_G = 9.80665
_RAD_PER_DEG = 0.017453292519943295
ACC_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
_ACC_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
_GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)


def decode(b, i, out):
    # six big-endian int16 (ax ay az gx gy gz) at b[i:i+12] into out; True if they equal
    # what out held before (a repeated sample). No allocation.
    same = True
    for j in range(6):
        v = (b[i] << 8) | b[i + 1]
        if v & 0x8000:
            v -= 65536
        if v != out[j]:
            out[j] = v
            same = False
        i += 2
    return same


class MPU6050:
    WHO_AM_I = 0x68
    FIFO_BYTES = 1024

    def __init__(self, i2c, addr=0x68):
        self.i2c = i2c
        self.addr = addr
        self._buf = bytearray(15)  # INT_STATUS, then ax ay az temp gx gy gz, big-endian
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self.acc_scale = 0.0
        self.gyro_scale = 0.0
        self._settings = None
        self.check()

    def check(self):
        who = self._read8(_WHO_AM_I)
        if who != self.WHO_AM_I:
            raise OSError("IMU not found at 0x%02x (WHO_AM_I 0x%02x)" % (self.addr, who))

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
        self._settings = (rate_hz, acc_range_g, gyro_range_dps)
        self._write8(_PWR_MGMT_1, 0x80)  # device reset
        time.sleep_ms(100)
        self._write8(_PWR_MGMT_1, 0x01)  # wake, clock from the X gyro PLL
        self._write8(_CONFIG, _DLPF_44HZ)
        self._write8(_SMPLRT_DIV, div)
        self._write8(_GYRO_CONFIG, fs << 3)
        self._write8(_ACCEL_CONFIG, afs << 3)
        self._extra_config()
        self.acc_scale = _G / _ACC_LSB_PER_G[afs]  # m/s^2 per count
        self.gyro_scale = _RAD_PER_DEG / _GYRO_LSB_PER_DPS[fs]  # rad/s per count

    def _extra_config(self):
        pass

    def reinit(self, fifo):
        # after the sensor dropped off the bus (or lost power): check, configure, restart
        self.check()
        self.configure(*self._settings)
        if fifo:
            self.fifo_start()

    # -- FIFO -----------------------------------------------------------------------------
    def fifo_start(self):
        self._write8(_USER_CTRL, 0)
        self._write8(_FIFO_EN, _FIFO_ACCEL_GYRO)
        self._write8(_USER_CTRL, _FIFO_RESET)
        self._write8(_USER_CTRL, _FIFO_ON)

    def fifo_reset(self):
        # drops what the FIFO holds; the next byte is the start of a sample again
        self._write8(_USER_CTRL, _FIFO_ON | _FIFO_RESET)

    def fifo_count(self):
        # bytes in the FIFO, or -1 after an overflow (the oldest bytes were overwritten, so
        # the stream is no longer aligned on samples: the caller must fifo_reset())
        if self._read8(_INT_STATUS) & _FIFO_OFLOW:
            return -1
        b = self._b2
        self.i2c.readfrom_mem_into(self.addr, _FIFO_COUNTH, b)
        n = (b[0] << 8) | b[1]
        return -1 if n >= self.FIFO_BYTES else n

    def fifo_overflowed(self):
        # True if the FIFO overflowed since INT_STATUS was last read (reading clears it)
        return bool(self._read8(_INT_STATUS) & _FIFO_OFLOW)

    def fifo_read(self, buf):
        # pops len(buf) bytes (a whole number of samples) into buf
        self.i2c.readfrom_mem_into(self.addr, _FIFO_R_W, buf)

    # -- polling (a sensor without a FIFO) ----------------------------------------------------
    def read_new(self, out):
        # the newest sample into out[0..5] if the sensor took one since the last call.
        # Returns 0 if it did not (the caller must not write the old one again), 1 for a new
        # sample, 2 for a new sample with the same values as before. One burst, no allocation.
        b = self._buf
        self.i2c.readfrom_mem_into(self.addr, _INT_STATUS, b)
        if not b[0] & _DATA_RDY:
            return 0
        same = True
        for j in range(6):
            i = 1 + (2 * j if j < 3 else 2 * j + 2)  # skip TEMP_OUT at bytes 7-8
            v = (b[i] << 8) | b[i + 1]
            if v & 0x8000:
                v -= 65536
            if v != out[j]:
                out[j] = v
                same = False
        return 2 if same else 1

    def temperature(self):
        # die temperature of the last polled read, degC
        v = (self._buf[7] << 8) | self._buf[8]
        if v & 0x8000:
            v -= 65536
        return v / 340 + 36.53


class MPU6500(MPU6050):
    WHO_AM_I = 0x70
    FIFO_BYTES = 512

    def _extra_config(self):
        self._write8(_ACCEL_CONFIG2, 3)  # accel DLPF ~41 Hz, like the gyro's


DRIVERS = {"MPU-6050": MPU6050, "MPU-6500": MPU6500}
