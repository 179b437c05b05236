// Samples per second from the stream's data messages: each says how many samples were
// `received` since the previous one. Summed over the last WINDOW_MS of arrival (wall
// clock, so messages out of time order count the same), which works at any decimation.
const WINDOW_MS = 10000;

export class RateMeter {
  constructor() { this.arrivals = []; } // [ms, received], oldest first

  add(received, now = performance.now()) {
    this.arrivals.push([now, received ?? 0]);
    while (this.arrivals.length > 2 && now - this.arrivals[0][0] > WINDOW_MS) this.arrivals.shift();
  }

  // null until two messages at least a second apart: the first one's count covers a span
  // before the meter started, so it is the window's left edge, not counted.
  perSecond(now = performance.now()) {
    const a = this.arrivals;
    if (a.length < 2 || now - a[a.length - 1][0] > WINDOW_MS) return null;
    const span = (a[a.length - 1][0] - a[0][0]) / 1000;
    if (span < 1) return null;
    let n = 0;
    for (let i = 1; i < a.length; i++) n += a[i][1];
    return n / span;
  }
}

// Samples per frame the firmware uses until the device reports its config (firmware/config.py).
export const DEFAULT_SAMPLES_PER_FRAME = 50;
