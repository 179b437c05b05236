# Deterministic walking-like IMU signal: a pure function of (seed, sample_index, rate_hz).
#
# The sensor is modelled as strapped to the left shank, device x forward, y left, z up along
# the tibia: gravity on +z (tilted into x by the mounting), one stride per cycle of the
# stride phase phi in [0, 1) with the initial contact (IC) at phi = 0 and the final contact
# (FC) at phi = 0.6. Sagittal angular velocity gy has the shank shape gait methods look
# for (Salarian): a positive hump in stance, a large negative mid-swing peak, a sharp
# positive spike at IC; the heel strike adds an impact on z and x. A seed picks cadence,
# amplitude, phase and mounting tilt, and drives deterministic per-sample noise. Values are
# SI: m/s^2, rad/s. CPython and MicroPython compute the same doubles, so host tests can
# predict every count.
import math

G = 9.80665
TWO_PI = 6.283185307179586
_MASK32 = 0xFFFFFFFF


def mix32(x):
    # 32-bit integer hash (lowbias32 style); products stay below 2**59, a small int on
    # 64-bit MicroPython, so the simulator does not allocate big ints per sample.
    x &= _MASK32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    return (x >> 16) ^ x


def gait_params(seed):
    # (stride_hz, amplitude, phase, tilt_rad) for one simulated wearer
    h = mix32(seed)
    stride_hz = 0.85 + (h & 0xFF) / 255 * 0.30  # 102..138 steps/min
    amp = 0.85 + ((h >> 8) & 0xFF) / 255 * 0.30
    phase = ((h >> 16) & 0xFF) / 256 * TWO_PI
    tilt = (((h >> 24) & 0xFF) / 255 - 0.5) * 0.2
    return stride_hz, amp, phase, tilt


def _u(h, shift):
    # uniform in [-0.5, 0.5] from 10 bits of h
    return ((h >> shift) & 1023) / 1023 - 0.5


STANCE = 0.6  # fraction of the stride from IC to FC
# stride means of the pulses and of the sagittal shape: subtracted, so that acceleration
# averages to gravity and the shank's angular velocity to zero over a stride, as they must
_HS_MEAN = 0.196380615234375  # mean of cos^16 = C(16, 8) / 2^16
_SPIKE_MEAN = 0.09934675374796689  # mean of cos^64 = C(64, 32) / 2^64
_SAG_MEAN = (0.8 * STANCE - 4.0 * (1 - STANCE)) * 2 / math.pi


def sample(seed, k, rate_hz):
    # physical (ax, ay, az, gx, gy, gz) of sample k at rate_hz
    stride_hz, amp, phase, tilt = gait_params(seed)
    phi = stride_hz * k / rate_hz + phase / TWO_PI
    phi -= math.floor(phi)
    p = TWO_PI * phi
    s1 = math.sin(p)
    c1 = math.cos(p)
    s2 = 2 * s1 * c1
    c2 = c1 * c1 - s1 * s1
    # narrow pulses at IC (phi = 0 = 1): cos(pi phi)^16 (impact) and ^64 (gyro spike)
    hc = math.cos(0.5 * p)
    hs = hc * hc
    hs *= hs
    hs *= hs
    hs *= hs
    spike = hs * hs
    spike *= spike
    hs -= _HS_MEAN
    spike -= _SPIKE_MEAN
    if phi < STANCE:
        sag = 0.8 * math.sin(math.pi * phi / STANCE)
    else:
        sag = -4.0 * math.sin(math.pi * (phi - STANCE) / (1 - STANCE))
    n1 = mix32(mix32(k) ^ seed)
    n2 = mix32(n1 ^ 0x5BD1E995)
    ax = G * math.sin(tilt) + amp * (1.8 * s1 + 0.6 * s2 + 3.0 * hs) + 0.1 * _u(n1, 0)
    ay = amp * (0.5 * c1 - 0.3 * s2) + 0.1 * _u(n1, 10)
    az = G * math.cos(tilt) + amp * (1.2 * c1 + 0.8 * c2 + 14.0 * hs) + 0.1 * _u(n1, 20)
    gx = amp * (0.4 * s2 + 0.2 * c1) + 0.02 * _u(n2, 0)
    gy = amp * (sag - _SAG_MEAN + 1.5 * spike) + 0.02 * _u(n2, 10)
    gz = amp * (0.3 * c1 + 0.15 * s2) + 0.02 * _u(n2, 20)
    return ax, ay, az, gx, gy, gz
