# The simulated board: an I2C bus with an MPU-6050 at 0x68 and a BME280 at 0x76, a
# battery that drains 10 %/h from full, and a fixed Wi-Fi signal strength. Options (the
# device.json field "sim"): "battery": false / "wifi": false simulate a board without a
# battery divider / without an RSSI reading.
import time

from .bme280 import BME280Sim
from .i2c import SimI2C
from .mpu6050 import MPU6050Sim


class SimBoard:
    name = "sim"

    def __init__(self, seed, imu_addr=0x68, env_addr=0x76, options=None):
        options = options or {}
        self.imu = MPU6050Sim(seed, imu_addr)
        self.env = BME280Sim(seed, env_addr)
        self.i2c = SimI2C((self.imu, self.env))
        self._battery = options.get("battery", True)
        self._wifi = options.get("wifi", True)
        self._t0 = time.time()

    def battery_pct(self):
        if not self._battery:
            return None
        return max(0, 100 - int((time.time() - self._t0) / 360))

    def rssi_dbm(self):
        return -55 if self._wifi else None
