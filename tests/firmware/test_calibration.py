"""Calibration offsets (`acc_offset`, `gyro_offset`): the firmware's rules (firmware/rules.py,
under the real MicroPython) and the cloud's pydantic checks accept and refuse the same
values, and a device running with offsets frames every sample minus them, exactly."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gaitlink.cloud.protocol.config import RemoteConfig
from gaitlink.tools.device import start_device
from tests.firmware.helpers import Subscriber, run_mpy
from tests.firmware.test_device_run import _expected_counts, _unique_by_seq

G = 9.80665
ACC = G / 4096.0  # m/s² per count at ±8 g (the default range)
GYRO = math.pi / 180 / 32.8  # rad/s per count at ±1000 °/s

CHECK = """
import json
import config
for values in %s:
    cfg = dict(config.DEFAULTS)
    cfg.update(values)
    try:
        config.rules.check_remote(cfg)
        print(json.dumps(["ok"]))
    except ValueError as e:
        print(json.dumps([str(e)]))
"""

number = st.one_of(
    st.integers(-30, 30),
    st.floats(-25.0, 25.0, allow_nan=False),
    st.floats(-1.5, 1.5, allow_nan=False),
)
offset = st.one_of(st.lists(number, min_size=2, max_size=4), st.just("0,0,0"), st.none())


@settings(max_examples=1, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["acc_offset", "gyro_offset"]), offset), min_size=60))
def test_offsets__firmware_and_cloud_checks_agree(fw_build, cases):
    # one MicroPython run checks every case (a run per example would take minutes)
    cases += [("acc_offset", [20.0, -20, 0]), ("gyro_offset", [1.0, -1.0, 0.5])]
    cases += [("acc_offset", [20.5, 0, 0]), ("gyro_offset", [0, 0, -1.01]), ("acc_offset", [])]
    values = [{k: v} for k, v in cases]
    got = run_mpy(fw_build, CHECK % json.dumps(values))
    assert len(got) == len(values)
    for v, (verdict,) in zip(values, got, strict=True):
        try:
            RemoteConfig.model_validate(v)
            cloud_ok = True
        except ValidationError:
            cloud_ok = False
        (field,) = v
        if v[field] is None:
            continue  # "keep the device's value" in the cloud; not a value on the device
        assert cloud_ok == (verdict == "ok"), (v, verdict)
        if verdict != "ok":
            assert verdict.startswith(field + ":"), verdict  # the error names the field


def test_offsets__subtracted_from_every_sample(mosquitto, tmp_path):
    seed, device = 31, "gl-cal-1"
    acc_off, gyro_off = [0.5, -0.25, 9.80665], [0.02, 0.0, -0.015]
    off = [round(x / ACC) for x in acc_off] + [round(x / GYRO) for x in gyro_off]
    with Subscriber(mosquitto.port) as sub:
        dev = start_device(
            device,
            "127.0.0.1",
            mosquitto.port,
            seed=seed,
            max_samples=400,
            state_dir=tmp_path / "devices",
            extra={"acc_offset": acc_off, "gyro_offset": gyro_off},
        )
        with dev:
            summary = dev.wait(timeout=60)
        assert sub.wait_for(lambda: len(sub.frames(device)) >= summary["frames"], 10)
        frames = _unique_by_seq(sub.frames(device))
    samples = [s for f in frames for s in f["samples"]]
    assert len(samples) == summary["samples"] == 400
    for k, row in enumerate(samples):
        raw = _expected_counts(seed, k)
        assert row == [max(-32768, min(32767, r - o)) for r, o in zip(raw, off, strict=True)], k
