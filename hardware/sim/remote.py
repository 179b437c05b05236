# The machine.I2C memory API over a TCP connection to hardware/simbus.py, which runs the
# register models in a host process: the firmware's heap then holds only this client, as
# on an ESP32, where the sensors are chips, not Python objects. One request per transaction,
# "<BBBH" (op R/W, addr, reg, length) then the data of a write; the reply is one status byte
# (0, or the errno the bus raised) then the data of a read. No allocation per transaction.
import socket
import struct

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
