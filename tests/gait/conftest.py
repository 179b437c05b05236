"""Fixtures for the gait segmentation tests: walker signals, cached per arguments."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def walk():
    """walk(placement, rate, duration, **kw) -> hardware.walker Walk, cached per arguments."""
    from gaitlink.hardware.walker import synthesize

    cache = {}

    def make(placement: str, rate: float = 100.0, duration: float = 30.0, **kw):
        key = (placement, rate, duration, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = synthesize(placement, rate, duration, **kw)
        return cache[key]

    return make
