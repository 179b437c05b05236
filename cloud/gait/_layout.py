"""The kernels' state layout: indices into the parameter arrays ``par`` / ``ipar``, the integer and
float state ``ist`` / ``fst``, the output counters and the cycle-row columns.

One place that names every slot, so the detectors (`_limb`, `_trunk`), the cycle
emission (`_cycles`) and the public layer (`stream`, `methods`, `reference`) agree.
"""

import numpy as np

N_CH = 6
N_POINTS = 150

METHOD_GYRO = 0  # foot, shank: sagittal angular velocity
METHOD_ACC = 1  # lower back: vertical acceleration (McCamley)

# Parameters, in two arrays: ``par`` (float64) for the real-valued ones and ``ipar``
# (int64) for the counts, so an integer never goes through a float. Durations in samples
# unless named otherwise.
P_RATE = 0  # samples per second
P_REFR_FRAC = 1  # refractory period as a fraction of the median recent interval
P_FLOOR = 2  # absolute floor of the adaptive threshold
P_THR_FRAC = 3  # adaptive threshold as a fraction of the median recent peak
P_MINDUR = 4  # seconds
P_MAXDUR = 5  # seconds
P_OUTLIER = 6  # relative deviation from the running median duration
P_BASE_ALPHA = 7  # lower back: weight of the exponential baseline
P_IMPLAT = 8  # foot/shank: impact latency after the contact, samples (fractional)
P_IMPSIG = 9  # foot/shank: an impact's jerk exceeds this many times the median jerk
P_ICFRAC = 10  # foot/shank: impact search at most this fraction of the median stride
P_GATEPREV = 11  # lower back: a step with another this soon before it is walking
P_GATENEXT = 12  # ... or with another this soon after it (within the 1 s look-ahead)
P_POSTURE = 13  # lower back: trunk pitch change (rad) x rate above which a step candidate
# is a postural transition, not a step (0: no gyroscope check)
N_PAR = 14

IP_H1 = 0  # half-width of the first smoothing filter
IP_H2 = 1  # half-width of the derivative filter (lower back; at most IP_H1)
IP_MAXCYC = 2  # longest valid cycle (2.5 s)
IP_REFR_MIN = 3  # shortest interval between two initial contacts
IP_CONFIRM = 4  # samples a lower-back peak must stay the highest before it counts
IP_FCWIN = 5  # foot/shank: how far before the swing onset the push-off minimum may lie
IP_METHOD = 6  # METHOD_GYRO or METHOD_ACC
IP_BREAK = 7  # intervals longer than this end a walking bout: no cycle across them
IP_BLOCK = 8  # samples written to the rings per step (the rings hold history + one block)
IP_ICWIN = 9  # foot/shank: window after the zero crossing searched for the impact
IP_ICREF = 10  # lower back: window before the loading peak holding the steepest rise
IP_FCREF = 11  # foot/shank: half-window around the smoothed push-off minimum for the raw one
IP_SIDEWIN = 12  # lower back: window either side of an IC over which ay is averaged
IP_SIDEGAP = 13  # lower back: start of the after-IC window, samples after the IC
IP_GYROIC = 14  # shank: without an impact, the IC is the first minimum of -gy (1) or the
# zero crossing (0: foot, whose first minimum after it is the later foot slap)
IP_IMPRISE = 15  # foot/shank: longest rise of an impact to its largest jump
IP_NCH = 16  # channels measured: 6, or 3 (accelerometer only; gyroscope columns NaN)
IP_JUMP = 17  # impact: the acceleration's jumps are taken over this many samples
IP_TROUGH = 18  # lower back: a loading peak must also rise above the trough this far back
IP_POSTBACK = 19  # lower back: the pitch change is taken from this many samples before an IC
IP_POSTFWD = 20  # ... to this many after it
N_IPAR = 21

# Integer state.
I_N = 0  # samples seen (stream time, gaps included)
I_SEG = 1  # first sample after the last reset
I_K1 = 2  # next index of sig1 to compute
I_KD = 3  # next index the event detector looks at
I_INSWING = 4
I_PEAKIDX = 5
I_LASTIC = 6  # sample of the last initial contact (refractory period)
I_PEND = 7  # lower back: pending peak, -1 if none
I_NPK = 8  # counts of the three histories
I_NST = 9
I_NDU = 10
I_SIDE1 = 11  # lower back: side of the last IC (0 unknown, 1 left, 2 right)
I_SIDE2 = 12  # ... of the IC before it
I_ZC = 13  # foot/shank: sample of the zero crossing ending the swing
I_SWSTART = 14  # foot/shank: sample where the swing rose above the threshold
I_ZCEND = 15  # foot/shank: last sample of the impact search after the zero crossing
I_HELDSIDE = 16  # lower back: side of the held step candidate
I_LASTFLAG = 17  # the latest sample a device flagged (NO_IC if none since the reset)
N_IST = 18

# Float state.
F_SPREV = 0
F_PEAKVAL = 1
F_IC1 = 2  # last initial contact (samples), NaN if none
F_IC2 = 3  # the one before (lower back)
F_BASE = 4
F_PENDVAL = 5
F_PENDH = 6
F_YM1 = 7
F_YM2 = 8
F_ZC = 9  # foot/shank: the zero crossing (samples)
F_THR = 10  # adaptive threshold, refractory period and median interval, updated by
F_REFR = 11  # `_adapt` whenever the histories change (not per sample)
F_STMED = 12
N_HIST = 5
F_PKH = 13  # recent swing-peak heights
F_STH = F_PKH + N_HIST  # recent intervals between ICs (samples)
F_DUH = F_STH + N_HIST  # recent cycle durations (s)
F_SORT = F_DUH + N_HIST  # scratch of `_hist_median` (no allocation per event)
F_GRAV = F_SORT + N_HIST  # lower back: gravity estimate (x, y, z), slow mean of smoothed acc
F_CAND = F_GRAV + 3  # lower back: time of the last step candidate (samples)
F_HELD = F_CAND + 1  # lower back: a candidate waiting for a next step, NaN if none
N_FST = F_HELD + 1

# Output counters.
K_IC = 0
K_FC = 1
K_ROW = 2
K_NORM = 3
K_OVERFLOW = 4
N_CNT = 5

# Cycle rows: float columns, then per channel rom, peak, mean.
C_START = 0
C_END = 1
C_FC = 2
C_DUR = 3
C_CAD = 4
C_STANCE = 5
C_SWING = 6
C_FEAT = 7
N_COLS = C_FEAT + 3 * N_CH
R_VALID = 0
R_REASON = 1
R_SIDE = 2

REASON_OK = 0
REASON_DURATION = 1
REASON_OUTLIER = 2
REASON_GAP = 3
REASON_DEVICE = 4
REASON_NAN = 5

SIDE_LEFT = 1  # side codes: 0 unknown / the sensor's own foot, 1 left, 2 right
SIDE_RIGHT = 2
MIRRORED = (1, 3, 5)  # ay, gx, gz: what a mirror in the sagittal plane negates

NO_IC = -(1 << 40)
_PHASE = np.arange(N_POINTS) / (N_POINTS - 1)  # normalised phase, 0..1


def scratch_shapes(ipar):
    """Sizes of the work arrays `_push` needs: the filter's input and output for one block,
    and two arrays for the longest search window (plain Python, called once per stream).
    Foot/shank: the impact window and the late swing before it. Lower back: the longer of
    the IC search (IP_ICREF) and the FC search (half a step of at most IP_MAXCYC), plus the
    derivative filter's margins."""
    block = ipar[IP_BLOCK]
    h1 = ipar[IP_H1]
    if ipar[IP_METHOD] == METHOD_ACC:
        n_scr = max(ipar[IP_ICREF], ipar[IP_MAXCYC] // 2) + 1 + 2 * ipar[IP_H2] + 2
    else:
        n_scr = 2 * ipar[IP_ICWIN] + 1
    return block + 2 * h1, (3, block), n_scr
