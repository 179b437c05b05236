import contextlib
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gaitlink.cloud.ingest.points import env_line
from gaitlink.cloud.protocol.messages import (
    DeviceStatus,
    EnvTelemetry,
    MessageError,
    parse,
    parse_status,
)

ENV = {
    "device_id": "gl-0001",
    "timestamp": "2026-11-22T10:15:30.250Z",
    "location": {"latitude": 49.5736, "longitude": 11.0277},
    "sensor_data": {
        "temperature": {"value": 22.41, "unit": "°C", "quality": "good"},
        "humidity": {"value": 41.2, "unit": "%", "quality": "good"},
        "pressure": {"value": 1013.2, "unit": "hPa", "quality": "out_of_range"},
    },
    "device_status": {"battery_level": 87, "signal_strength": -61, "firmware_version": "0.1.0"},
}


def _env(**changes):
    message = json.loads(json.dumps(ENV))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = message
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(message).encode()


def test_env__valid():
    message = parse(EnvTelemetry, _env(), device="gl-0001")
    assert message.sensor_data.temperature.value == 22.41
    assert message.sensor_data.pressure.quality == "out_of_range"
    assert message.timestamp.microsecond == 250_000


def test_env__valid_without_optional_parts():
    message = parse(
        EnvTelemetry, _env(location=KeyError, sensor_data__humidity=KeyError), device="gl-0001"
    )
    assert message.location is None and message.sensor_data.humidity is None


def test_env__valid_without_battery_and_rssi():
    # a board without a battery divider or Wi-Fi RSSI leaves both out (protocol 3.1)
    payload = _env(device_status__battery_level=KeyError, device_status__signal_strength=KeyError)
    message = parse(EnvTelemetry, payload, device="gl-0001")
    assert message.device_status.battery_level is None
    assert message.device_status.signal_strength is None
    line = env_line(message)
    assert "battery=" not in line and "rssi=" not in line and "temperature=22.41" in line


def test_env__unknown_keys_are_ignored():
    assert parse(EnvTelemetry, _env(extra_key={"x": 1}), device="gl-0001")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"location__latitude": 91}, "location.latitude"),
        ({"device_status__battery_level": 101}, "device_status.battery_level"),
        ({"device_status__signal_strength": 5}, "device_status.signal_strength"),
        ({"sensor_data__temperature__unit": "°F"}, "sensor_data.temperature"),
        ({"sensor_data__humidity__quality": "meh"}, "sensor_data.humidity.quality"),
        ({"timestamp": "2026-11-22T10:15:30"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"device_id": "GL 1"}, "device_id"),
        ({"sensor_data": KeyError}, "sensor_data"),
    ],
)
def test_env__invalid_names_the_field(changes, named):
    with pytest.raises(MessageError, match=named.replace(".", r"\.")):
        parse(EnvTelemetry, _env(**changes), device="gl-0001")


def test_env__nan_value_rejected():
    payload = _env().replace(b"22.41", b"NaN")
    with pytest.raises(MessageError, match=r"temperature\.value"):
        parse(EnvTelemetry, payload, device="gl-0001")


def test_env__device_must_match_topic():
    with pytest.raises(MessageError, match="does not match the topic"):
        parse(EnvTelemetry, _env(), device="gl-0002")


@given(st.binary(max_size=500))
def test_parse__arbitrary_bytes_raise_only_message_error(payload):
    for model in (EnvTelemetry, DeviceStatus):
        with contextlib.suppress(MessageError):
            parse(model, payload, device="gl-0001")


def test_status__valid_last_will():
    status = parse(
        DeviceStatus,
        b'{"device_id": "gl-0001", "state": "offline", "boot_id": 5}',
        device="gl-0001",
    )
    assert status.state == "offline" and status.frames_sent is None


def test_status__invalid_state():
    with pytest.raises(MessageError, match="state"):
        parse(
            DeviceStatus, b'{"device_id":"gl-0001","state":"asleep","boot_id":5}', device="gl-0001"
        )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"sensor_data__humidity__value": -5}, "humidity"),
        ({"sensor_data__temperature__value": 1e30}, "temperature"),
        ({"sensor_data__pressure__value": 20}, "pressure"),
        ({"sensor_data__temperature__quality": "sensor_error"}, "sensor_error"),
        ({"sensor_data__temperature__value": None}, "sensor_error"),
    ],
)
def test_env__invalid_physically_impossible_or_inconsistent(changes, named):
    with pytest.raises(MessageError, match=named):
        parse(EnvTelemetry, _env(**changes), device="gl-0001")


def test_env__sensor_error_without_value_is_valid():
    message = parse(
        EnvTelemetry,
        _env(sensor_data__humidity__value=None, sensor_data__humidity__quality="sensor_error"),
        device="gl-0001",
    )
    assert message.sensor_data.humidity.value is None


# -- status: the firmware's newer fields (faults, clock, imu, heap_min_free) -------------
_STATUS = {
    "device_id": "gl-0001", "state": "online", "boot_id": 5,
    "timestamp": "2026-12-01T00:00:00Z", "frames_sent": 9, "free_heap": 12000,
    "heap_min_free": 10624, "imu": "lost",
    "faults": {"i2c_errors": 4, "imu_lost": 1, "imu_reinits": 1, "fifo_overflows": 0,
               "samples_lost": 30, "stuck_events": 1, "clipped_frames": 2, "env_errors": 3},
    "clock": {"steps": 1, "slews": 40, "last_error_us": -312},
}  # fmt: skip


def test_status__valid_first_sync_error_of_an_unset_clock():
    # the first beacon after boot measures an RTC that started at 2000-01-01
    unset = _STATUS | {"clock": {"steps": 1, "slews": 0, "last_error_us": 848_000_000_000_000}}
    status, dropped = parse_status(json.dumps(unset).encode(), device="gl-0001")
    assert dropped is None and status.clock.last_error_us == 848_000_000_000_000


def test_status__valid_with_faults_clock_imu_and_heap_min_free():
    status, dropped = parse_status(json.dumps(_STATUS).encode(), device="gl-0001")
    assert dropped is None
    assert status.model_dump(mode="json", exclude_none=True, exclude={"timestamp"}) == {
        k: v for k, v in _STATUS.items() if k != "timestamp"
    }


@pytest.mark.parametrize(
    ("change", "named", "kept"),
    [
        ({"faults": {**_STATUS["faults"], "i2c_errors": -1}}, "faults.i2c_errors", "faults"),
        ({"faults": "many"}, "faults", "clock"),
        ({"clock": {"steps": 1.5, "slews": 2}}, "clock.steps", "clock"),
        ({"clock": {"last_error_us": 2**63}}, "clock.last_error_us", "faults"),
        ({"imu": "broken"}, "imu", "faults"),
        ({"heap_min_free": -4}, "heap_min_free", "imu"),
        ({"frames_sent": "nine"}, "frames_sent", "heap_min_free"),
    ],
)
def test_status__invalid_optional_value_costs_only_that_value(change, named, kept):
    status, dropped = parse_status(json.dumps(_STATUS | change).encode(), device="gl-0001")
    assert dropped is not None and dropped.startswith("left out: ") and named in dropped
    assert status.state == "online" and status.boot_id == 5
    assert getattr(status, kept) is not None  # the other fields are all still there


@pytest.mark.parametrize(
    ("change", "named"),
    [({"state": "asleep"}, "state"), ({"boot_id": -1}, "boot_id"),
     ({"timestamp": "yesterday"}, "timestamp"), ({"device_id": "gl-0002"}, "device_id")],
)  # fmt: skip
def test_status__invalid_core_is_a_message_error(change, named):
    with pytest.raises(MessageError, match=named):
        parse_status(json.dumps(_STATUS | change).encode(), device="gl-0001")


_json_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


@example(top={"faults": {"": 0}}, faults={})  # an unknown counter: ignored, not lost data
@given(
    st.dictionaries(
        st.sampled_from(["faults", "clock", "imu", "heap_min_free", "free_heap", "uptime_s"]),
        _json_values,
    ),
    st.dictionaries(st.sampled_from(list(_STATUS["faults"])), _json_values),
)
def test_status__any_optional_values_keep_the_core_or_name_what_was_left_out(top, faults):
    payload = _STATUS | top
    if faults and isinstance(payload.get("faults"), dict):
        payload["faults"] = payload["faults"] | faults
    status, dropped = parse_status(json.dumps(payload).encode(), device="gl-0001")
    assert (status.device_id, status.state, status.boot_id) == ("gl-0001", "online", 5)
    if dropped is None:  # everything was valid: nothing is lost (unknown keys are ignored)
        assert status.faults is None or status.faults.model_dump(exclude_none=True) == {
            k: v for k, v in payload["faults"].items() if v is not None and k in _STATUS["faults"]
        }
