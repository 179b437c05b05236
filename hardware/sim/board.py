# The simulated board: an I2C bus with an IMU (MPU-6050 at 0x68 unless the board profile
# names another part) and a BME280 at 0x76, a battery that drains 10 %/h from full, and a
# fixed Wi-Fi signal strength. Options (the device.json field "sim"):
#   "battery": false, "wifi": false  a board without a battery divider / an RSSI reading
#   "env": false                     no BME280 on the bus
#   "drift_ppm": 0                   the IMU's sample clock against the host's (+ = fast)
#   "faults": [...]                  timed faults, see i2c.py
#   "bus": port                      the sensors are served by hardware/simbus.py on
#                                    127.0.0.1:port (out of this interpreter's heap)
import socket
import struct
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


# The machine.I2C memory API over a TCP connection to hardware/simbus.py, which runs the
# register models in a host process: the firmware's heap then holds only this client, as
# on an ESP32, where the sensors are chips, not Python objects. One request per transaction,
# "<BBBH" (op R/W, addr, reg, length) then the data of a write; the reply is one status byte
# (0, or the errno the bus raised) then the data of a read. No allocation per transaction.
# (Here, not in a module of its own: one module less on the device's heap.)
_READ = 0x52
_WRITE = 0x57
_MAX_WRITE = 16


class RemoteI2C:
    def __init__(self, port):
        self._s = socket.socket()
        self._s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        try:
            self._s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: no Nagle delay
        except OSError:
            pass
        self._req = bytearray(5 + _MAX_WRITE)  # a write goes in one segment with its header
        self._mv = memoryview(self._req)
        self._head = self._mv[:5]
        self._st = bytearray(1)

    def _call(self, op, addr, reg, n, data=None):
        struct.pack_into("<BBBH", self._req, 0, op, addr, reg, n)
        if data is None:
            self._s.write(self._head)
        elif n <= _MAX_WRITE:
            self._mv[5 : 5 + n] = data
            self._s.write(self._mv[: 5 + n])
        else:
            self._s.write(self._head)
            self._s.write(data)
        self._fill(self._st)
        if self._st[0]:
            raise OSError(self._st[0])

    def _fill(self, buf):
        mv = memoryview(buf)
        got = 0
        while got < len(buf):
            k = self._s.readinto(mv[got:] if got else mv)
            if not k:
                raise OSError(104)  # the simulator went away
            got += k

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._call(_READ, addr, memaddr, len(buf))
        self._fill(buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._call(_WRITE, addr, memaddr, len(buf), buf)
