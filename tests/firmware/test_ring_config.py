"""The frame ring's drop-oldest policy and the config validation, under MicroPython."""

from __future__ import annotations

import json

from tests.firmware.helpers import run_mpy

RING = """
import json
from ring import Ring
r = Ring(4, 3)
def frame(i):
    return bytes([i, i, i, i])
for i in range(5):
    r.push(frame(i))
held = [r.frame(i)[0] for i in range(r.tail, r.head)]
print(json.dumps({"step": "overflow", "len": len(r), "dropped": r.dropped, "held": held}))

# frames 2, 3, 4 held: send two, ack the second first (out of order), then the first
a = r.next_unsent(); r.mark_sent(a, 11)
b = r.next_unsent(); r.mark_sent(b, 12)
print(json.dumps({"step": "sent", "a": r.frame(a)[0], "b": r.frame(b)[0], "inflight": r.inflight}))
print(json.dumps({"step": "ack12", "ok": r.ack(12), "len": len(r), "acked": r.acked}))
print(json.dumps({"step": "ack11", "ok": r.ack(11), "len": len(r), "acked": r.acked,
                  "unknown": r.ack(99)}))

# link lost with frame 4 in flight: it comes back first, marked as sent before
c = r.next_unsent(); r.mark_sent(c, 13)
r.rewind()
d = r.next_unsent()
print(json.dumps({"step": "rewind", "again": r.frame(d)[0], "was_sent": r.was_sent(d),
                  "inflight": r.inflight}))

# an in-flight frame dropped by overflow: its late PUBACK is ignored
r.mark_sent(d, 14)
for i in range(5, 8):
    r.push(frame(i))
held = [r.frame(i)[0] for i in range(r.tail, r.head)]
nxt = r.frame(r.next_unsent())[0]
print(json.dumps({"step": "drop_inflight", "held": held, "dropped": r.dropped,
                  "inflight": r.inflight, "late_ack": r.ack(14), "next": nxt}))
"""


def test_ring__drop_oldest_ack_and_resend(fw_build):
    out = {o.pop("step"): o for o in run_mpy(fw_build, RING)}
    assert out["overflow"] == {"len": 3, "dropped": 2, "held": [2, 3, 4]}
    assert out["sent"] == {"a": 2, "b": 3, "inflight": 2}
    # frame 3 acked before frame 2: nothing leaves until the oldest is acked
    assert out["ack12"] == {"ok": True, "len": 3, "acked": 1}
    assert out["ack11"] == {"ok": True, "len": 1, "acked": 2, "unknown": False}
    assert out["rewind"] == {"again": 4, "was_sent": True, "inflight": 0}
    assert out["drop_inflight"] == {
        "held": [5, 6, 7],
        "dropped": 3,
        "inflight": 0,
        "late_ack": False,
        "next": 5,
    }


CONFIG = """
import json, config
def attempt(values):
    try:
        cfg = config.merge(values)
        spf = cfg["samples_per_frame"]
        return {"ok": True, "rate_hz": cfg["rate_hz"], "samples_per_frame": spf}
    except ValueError as e:
        return {"ok": False, "error": str(e)}
for values in json.load(open("cases.json")):
    print(json.dumps(attempt(values)))
"""

GOOD = {"device_id": "gl-0001", "broker_host": "127.0.0.1"}
BAD = [
    ({"device_id": None}, "device_id"),
    ({"device_id": "GL-0001"}, "device_id"),
    ({"device_id": "-gl"}, "device_id"),
    ({"device_id": "x" * 33}, "device_id"),
    ({"rate_hz": 30}, "rate_hz"),  # 1000 / 30 is no MPU-6050 rate
    ({"rate_hz": 2000}, "rate_hz"),
    ({"rate_hz": True}, "rate_hz"),
    ({"samples_per_frame": 0}, "samples_per_frame"),
    ({"samples_per_frame": 201}, "samples_per_frame"),
    ({"acc_range_g": 3}, "acc_range_g"),
    ({"gyro_range_dps": 300}, "gyro_range_dps"),
    ({"broker_port": 0}, "broker_port"),
    ({"broker_port": "1883"}, "broker_port"),
    ({"broker_host": ""}, "broker_host"),
    ({"mqtt_password": 5}, "mqtt_password"),
    ({"range_checks": {"temperature": [60, -20]}}, "range_checks.temperature"),
    ({"range_checks": {"wind": [0, 1]}}, "range_checks.wind"),
    ({"location": {"latitude": 91, "longitude": 0}}, "location.latitude"),
    ({"reconnect_min_ms": 500, "reconnect_max_ms": 100}, "reconnect_max_ms"),
    ({"ring_bytes": 100}, "ring_bytes"),
    ({"rate": 100}, "rate"),  # a typo is an error, not a silently ignored key
]


def test_config__valid(fw_build, tmp_path):
    cases = [
        GOOD,
        dict(GOOD, rate_hz=200, samples_per_frame=200, range_checks={"az": [-20, 20]}),
        dict(GOOD, location={"latitude": 49.57, "longitude": 11.03}),
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    out = run_mpy(fw_build, CONFIG, cwd=tmp_path)
    assert out == [
        {"ok": True, "rate_hz": 100, "samples_per_frame": 50},
        {"ok": True, "rate_hz": 200, "samples_per_frame": 200},
        {"ok": True, "rate_hz": 100, "samples_per_frame": 50},
    ]


def test_config__invalid_names_the_field(fw_build, tmp_path):
    (tmp_path / "cases.json").write_text(json.dumps([dict(GOOD, **values) for values, _ in BAD]))
    out = run_mpy(fw_build, CONFIG, cwd=tmp_path)
    assert len(out) == len(BAD)
    for (values, field), got in zip(BAD, out, strict=True):
        assert got["ok"] is False, values
        assert got["error"].startswith(field + ":"), (values, got["error"])


def test_config__missing_device_file(fw_build, tmp_path):
    code = """
import json, config
try:
    config.load("device.json")
except ValueError as e:
    print(json.dumps({"error": str(e)}))
"""
    (out,) = run_mpy(fw_build, code, cwd=tmp_path)
    assert out["error"].startswith("device_id:")
