# The simulated board: an I2C bus with an IMU (MPU-6050 at 0x68 unless the board profile
# names another part) and a BME280 at 0x76, a battery that drains 10 %/h from full, and a
# fixed Wi-Fi signal strength. Options (the device.json field "sim"):
#   "battery": false, "wifi": false  a board without a battery divider / an RSSI reading
#   "env": false                     no BME280 on the bus
#   "drift_ppm": 0                   the IMU's sample clock against the host's (+ = fast)
#   "faults": [...]                  timed faults, see i2c.py
#   "bus": port                      the sensors are served by hardware/simbus.py on
#                                    127.0.0.1:port (out of this interpreter's heap)
import time

IMU_PARTS = ("MPU-6050", "MPU-6500")


def imu_of(profile):
    # (part, has a FIFO) of a board profile; the simulated default is an MPU-6050
    imu = (profile or {}).get("imu") or {}
    return imu.get("part", "MPU-6050"), imu.get("fifo", True)


class SimBoard:
    name = "sim"

    def __init__(self, seed, imu_addr=0x68, env_addr=0x76, options=None, profile=None):
        options = options or {}
        self.imu_part, self.imu_fifo = imu_of(profile)
        if options.get("bus"):
            from .remote import RemoteI2C

            self.i2c = RemoteI2C(options["bus"])
        else:
            from .i2c import make_bus  # the register models in this interpreter

            self.i2c = make_bus(seed, imu_addr, env_addr, options, profile)
        self._battery = options.get("battery", True)
        self._wifi = options.get("wifi", True)
        self._t0 = time.time()

    def battery_pct(self):
        if not self._battery:
            return None
        return max(0, 100 - int((time.time() - self._t0) / 360))

    def rssi_dbm(self):
        return -55 if self._wifi else None
