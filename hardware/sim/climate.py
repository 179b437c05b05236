# Deterministic room climate for the simulated BME280: a pure function of (seed, m), m being
# the index of the forced measurement (0 for the first). Returns (degC, %RH, hPa).
import math

from .motion import mix32


def reading(seed, m):
    h = mix32(seed ^ 0xC11A7E)
    t = 18.0 + (h & 0xFF) / 255 * 8.0 + 0.5 * math.sin(m * 0.05)
    rh = 35.0 + ((h >> 8) & 0xFF) / 255 * 20.0 + 2.0 * math.cos(m * 0.03)
    p = 1000.0 + ((h >> 16) & 0xFF) / 255 * 25.0 + 0.3 * math.sin(m * 0.01)
    return t, rh, p
