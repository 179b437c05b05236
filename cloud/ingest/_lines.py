"""The `imu` line encoder as a numba kernel: a frame's lines written as bytes in one pass.

Built ahead of time (`gaitlink ingest build`, `_compiled.py`); the ingest never imports this
module itself (it would load numba). Without a build, points.py encodes the same bytes
with one Python `%`-format per frame, about 2x slower end to end (`imu_lines`, 50 samples).
"""

from numba import njit


@njit(nogil=True, cache=False)
def _put_int(out, pos, value):
    # Decimal digits of an int64 (never its minimum: values are micro-units of a sensor
    # range, or timestamps), most significant first.
    if value < 0:
        out[pos] = 45  # '-'
        pos += 1
        value = -value
    start = pos
    while True:
        out[pos] = 48 + value % 10
        pos += 1
        value //= 10
        if value == 0:
            break
    end = pos - 1
    while start < end:
        out[start], out[end] = out[end], out[start]
        start += 1
        end -= 1
    return pos


@njit(nogil=True, cache=False)
def _imu_text(units, t0_us, period_us, pieces, bounds, out):
    # Line i: pieces[0] units[i, 0] pieces[1] units[i, 1] ... pieces[c] timestamp, where
    # piece j is pieces[bounds[j]:bounds[j + 1]]; lines joined by '\n'. Returns the length.
    n, c = units.shape
    pos = 0
    for i in range(n):
        if i:
            out[pos] = 10
            pos += 1
        for j in range(c + 1):
            for k in range(bounds[j], bounds[j + 1]):
                out[pos] = pieces[k]
                pos += 1
            pos = _put_int(out, pos, units[i, j] if j < c else t0_us + i * period_us)
    return pos
