# A simulated I2C bus with the machine.I2C memory API the drivers use. Devices are register
# models (see mpu6050.py, bme280.py) with read(reg, buf) / write(reg, data).
_ENODEV = 19  # what machine.I2C raises when nobody ACKs the address
_ETIMEDOUT = 110


class SimI2C:
    def __init__(self, devices=()):
        self._devices = {}
        self._faults = {}
        for d in devices:
            self.attach(d)

    def attach(self, device):
        self._devices[device.addr] = device

    def scan(self):
        return sorted(self._devices)

    def inject_fault(self, addr, count=1):
        # the next `count` transactions to addr fail with OSError(ETIMEDOUT)
        self._faults[addr] = self._faults.get(addr, 0) + count

    def _device(self, addr):
        d = self._devices.get(addr)
        if d is None:
            raise OSError(_ENODEV)
        n = self._faults.get(addr, 0)
        if n:
            self._faults[addr] = n - 1
            raise OSError(_ETIMEDOUT)
        return d

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._device(addr).read(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self._device(addr).read(memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._device(addr).write(memaddr, buf)
