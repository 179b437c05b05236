# A simulated I2C bus with the machine.I2C memory API the drivers use. Devices are register
# models (see mpu6050.py, bme280.py) with read(reg, buf) / write(reg, data).
#
# Faults: inject_fault(addr, n) makes the next n transactions to addr fail with
# OSError(ETIMEDOUT) (n = 1: a single error; n > 1: a burst). detach(addr) / attach(device)
# take a device off the bus (every transaction: OSError(ENODEV), nobody ACKs) and bring it
# back power-cycled. schedule(faults) plays a list of timed faults, each
# [seconds after the bus was made, kind, ...]:
#   [t, "i2c", addr, n]         n failing transactions to addr
#   [t, "gone", addr, seconds]  addr off the bus for that long, then back after a power cycle
#   [t, "stuck", addr, n]       the sensor at addr repeats one sample n times
#   [t, "saturate", addr, n]    the sensor at addr reads full scale for n samples
from . import ticks as time

_ENODEV = 19  # what machine.I2C raises when nobody ACKs the address
_ETIMEDOUT = 110


class SimI2C:
    def __init__(self, devices=()):
        self._devices = {}
        self._faults = {}
        self._gone = {}  # addr -> (device, ticks_ms when it comes back)
        self._plan = []
        self._t0 = time.ticks_ms()
        for d in devices:
            self.attach(d)

    def attach(self, device):
        self._devices[device.addr] = device

    def detach(self, addr):
        return self._devices.pop(addr, None)

    def scan(self):
        return sorted(self._devices)

    def inject_fault(self, addr, count=1):
        # the next `count` transactions to addr fail with OSError(ETIMEDOUT)
        self._faults[addr] = self._faults.get(addr, 0) + count

    def schedule(self, faults):
        self._plan = sorted(faults, key=lambda f: f[0])

    def _play(self):
        now = time.ticks_diff(time.ticks_ms(), self._t0)
        while self._plan and self._plan[0][0] * 1000 <= now:
            f = self._plan.pop(0)
            kind, addr, arg = f[1], f[2], f[3]
            if kind == "i2c":
                self.inject_fault(addr, arg)
            elif kind == "gone":
                d = self.detach(addr)
                if d is not None:
                    self._gone[addr] = (d, time.ticks_add(time.ticks_ms(), int(arg * 1000)))
            elif kind == "stuck":
                self._devices[addr].stick(arg)
            elif kind == "saturate":
                self._devices[addr].saturate(arg)
        for addr in list(self._gone):
            d, back = self._gone[addr]
            if time.ticks_diff(time.ticks_ms(), back) >= 0:
                del self._gone[addr]
                d.reset()  # it lost power: back with its reset values
                self.attach(d)

    def _device(self, addr):
        if self._plan or self._gone:
            self._play()
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


def make_bus(seed, imu_addr, env_addr, options, profile):
    # the register models on a simulated bus, faults scheduled (here, not in board.py: a
    # device whose sensors run in hardware/simbus.py loads board.py but not this)
    from .bme280 import BME280Sim
    from .board import imu_of
    from .mpu6050 import MPU6050Sim, MPU6500Sim

    part = imu_of(profile)[0]
    model = MPU6500Sim if part == "MPU-6500" else MPU6050Sim
    devices = [model(seed, imu_addr, drift_ppm=options.get("drift_ppm", 0.0))]
    if options.get("env", True):
        devices.append(BME280Sim(seed, env_addr))
    bus = SimI2C(devices)
    bus.schedule(options.get("faults", []))
    return bus
