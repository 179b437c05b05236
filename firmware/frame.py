# Protocol v1 IMU frames (docs/protocol.md section 2), built in one preallocated buffer.
# add() does not allocate: it is called at the sample rate.
import struct
from binascii import crc32

from micropython import const

HEADER = const(40)
TRAILER = const(4)
MAX_SAMPLES = const(200)
CHANNELS_ACC_GYRO = const(0x03)

# flags
TIME_SYNCED = const(0x01)
RESENT = const(0x02)

# quality bits
ACC_CLIPPED = const(0x01)
GYRO_CLIPPED = const(0x02)
RANGE_VIOLATION = const(0x04)
OVERRUN = const(0x08)
SENSOR_ERROR = const(0x10)
SENSOR_STUCK = const(0x20)

_HDR = "<2sBBIIqIHBBffHH"  # 40 bytes, little-endian, no padding
_OFF_FLAGS = const(3)
_OFF_N = const(24)
_OFF_QUALITY = const(36)


def size(n_samples):
    return HEADER + 12 * n_samples + TRAILER


class FrameBuilder:
    def __init__(self, max_samples):
        if not 1 <= max_samples <= MAX_SAMPLES:
            raise ValueError("samples_per_frame: 1-200")
        self.buf = bytearray(size(max_samples))
        self.mv = memoryview(self.buf)
        self.n = 0
        self.quality = 0

    def begin(self, flags, boot_id, seq, t0_us, period_us, acc_scale, gyro_scale):
        struct.pack_into(
            _HDR,
            self.buf,
            0,
            b"GL",
            1,
            flags,
            boot_id,
            seq,
            t0_us,
            period_us,
            0,
            CHANNELS_ACC_GYRO,
            0,
            acc_scale,
            gyro_scale,
            0,
            0,
        )
        self.n = 0
        self.quality = 0

    def add(self, c):
        # c: six int16 counts (array('h') or tuple) ax ay az gx gy gz
        struct.pack_into("<6h", self.buf, HEADER + 12 * self.n, c[0], c[1], c[2], c[3], c[4], c[5])
        self.n += 1

    def finish(self):
        # fills n, quality and the CRC; returns a view of the finished frame
        end = HEADER + 12 * self.n
        struct.pack_into("<H", self.buf, _OFF_N, self.n)
        struct.pack_into("<H", self.buf, _OFF_QUALITY, self.quality)
        struct.pack_into("<I", self.buf, end, crc32(self.mv[:end]))
        return self.mv[: end + TRAILER]


def set_flag(frame, flag):
    # sets a flag bit in a finished frame (memoryview of exactly one frame), re-signs the CRC
    end = len(frame) - TRAILER
    frame[_OFF_FLAGS] |= flag
    struct.pack_into("<I", frame, end, crc32(frame[:end]))
