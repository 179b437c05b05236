"""Log-in attempt limits: per client address and for the whole service, in fixed windows.

Policy (docs/ui.md): every failed log-in counts against its client address (at most
PER_ADDRESS failures a window) and against the service (at most GLOBAL failures a window,
which bounds guessing from many addresses and the key checks it costs). Over either, the
log-in is refused with 429 and Retry-After (seconds to the window's end) before the key is
looked at. Successful log-ins do not count. Addresses are kept in an LRU of at most
MAX_ADDRESSES: when full, the least recently seen one is forgotten (counted in `evicted`),
so memory stays bounded and the global limit still holds. The address is the TCP peer's:
behind a proxy every client shares the proxy's address and the per-address limit becomes a
second global one (X-Forwarded-For is not trusted).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

WINDOW_S = 60.0
PER_ADDRESS = 10
GLOBAL = 100
MAX_ADDRESSES = 4096


@dataclass(slots=True)
class _Window:
    start: float
    failures: int = 0


class LoginLimiter:
    def __init__(
        self,
        *,
        window_s: float = WINDOW_S,
        per_address: int = PER_ADDRESS,
        global_limit: int = GLOBAL,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.per_address = per_address
        self.global_limit = global_limit
        self.max_addresses = max_addresses
        self._clock = clock
        self._addresses: OrderedDict[str, _Window] = OrderedDict()
        self._global = _Window(clock())
        # Counters for /metrics.
        self.failures = 0
        self.limited_address = 0
        self.limited_global = 0
        self.evicted = 0

    def _current(self, window: _Window, now: float) -> _Window:
        if now - window.start >= self.window_s:
            window.start, window.failures = now, 0
        return window

    def _address(self, address: str, now: float) -> _Window:
        window = self._addresses.get(address)
        if window is None:
            while len(self._addresses) >= self.max_addresses:
                self._addresses.popitem(last=False)
                self.evicted += 1
            window = self._addresses[address] = _Window(now)
        self._addresses.move_to_end(address)
        return self._current(window, now)

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        now = self._clock()
        waits = []
        own = self._address(address, now)
        if own.failures >= self.per_address:
            self.limited_address += 1
            waits.append(own.start + self.window_s - now)
        shared = self._current(self._global, now)
        if shared.failures >= self.global_limit:
            self.limited_global += 1
            waits.append(shared.start + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, address: str) -> None:
        now = self._clock()
        self._address(address, now).failures += 1
        self._current(self._global, now).failures += 1
        self.failures += 1

    @property
    def addresses(self) -> int:
        return len(self._addresses)


def login_metrics(limiter: LoginLimiter) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "gaitlink_ui_login_failures", "Failed log-ins to the browser UI", value=limiter.failures
    )
    limited = CounterMetricFamily(
        "gaitlink_ui_login_limited", "Log-ins refused with 429, by limit", labels=["limit"]
    )
    limited.add_metric(["address"], limiter.limited_address)
    limited.add_metric(["global"], limiter.limited_global)
    yield limited
    yield GaugeMetricFamily(
        "gaitlink_ui_login_addresses", "Client addresses with log-in counters", limiter.addresses
    )
    yield CounterMetricFamily(
        "gaitlink_ui_login_addresses_evicted",
        "Client addresses forgotten to keep the table bounded",
        value=limiter.evicted,
    )
