import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gaitlink.cloud.protocol.frame import OVERHEAD, REJECT_REASONS, FrameError, decode
from tests.cloud.frames import encode_frame

GOLDEN = Path(__file__).parents[1] / "golden"

counts_arrays = st.integers(1, 200).flatmap(
    lambda n: arrays(np.int16, (n, 6), elements=st.integers(-32768, 32767))
)


def test_decode__valid_round_trip_of_every_field():
    counts = np.arange(-300, 300, dtype=np.int16).reshape(100, 6)
    frame = decode(
        encode_frame(counts, boot_id=7, seq=41, t0_us=123, period_us=5000, flags=1, quality=9)
    )
    assert (frame.boot_id, frame.seq, frame.t0_us, frame.period_us) == (7, 41, 123, 5000)
    assert (frame.flags, frame.quality, frame.n_samples) == (1, 9, 100)
    np.testing.assert_array_equal(frame.counts, counts)
    np.testing.assert_array_equal(frame.timestamps_us()[:3], [123, 5123, 10123])
    np.testing.assert_allclose(frame.physical()[0, :3], counts[0, :3] * np.float32(0.0011971008))
    np.testing.assert_allclose(frame.physical()[0, 3:], counts[0, 3:] * np.float32(0.00053263221))


@given(
    counts=counts_arrays,
    seq=st.integers(0, 2**32 - 1),
    boot_id=st.integers(0, 2**32 - 1),
    t0_us=st.integers(-(2**63), 2**63 - 1),
    quality=st.integers(0, 2**16 - 1),
)
def test_decode__valid_property(counts, seq, boot_id, t0_us, quality):
    frame = decode(encode_frame(counts, seq=seq, boot_id=boot_id, t0_us=t0_us, quality=quality))
    assert (frame.seq, frame.boot_id, frame.t0_us, frame.quality) == (seq, boot_id, t0_us, quality)
    np.testing.assert_array_equal(frame.counts, counts)


@given(st.binary(max_size=3000))
def test_decode__arbitrary_bytes_raise_only_frame_error(data):
    try:
        decode(data)
    except FrameError as exc:
        assert exc.reason in REJECT_REASONS


@given(counts=counts_arrays, data=st.data())
def test_decode__any_single_byte_change_is_rejected(counts, data):
    frame = bytearray(encode_frame(counts))
    i = data.draw(st.integers(0, len(frame) - 1))
    frame[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(FrameError):
        decode(bytes(frame))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda f: f[: OVERHEAD - 1], "short"),
        (lambda f: b"XX" + f[2:], "bad_magic"),
        (lambda f: f[:2] + b"\x02" + f[3:], "bad_version"),
        (lambda f: f[:-5] + bytes([f[-5] ^ 1]) + f[-4:], "bad_crc"),
        (lambda f: f[:-10], "bad_length"),
    ],
)
def test_decode__invalid_names_the_reason(mutate, reason):
    with pytest.raises(FrameError) as caught:
        decode(mutate(encode_frame(np.zeros((10, 6), np.int16))))
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"period_us": 0}, "period_us"),
        ({"channels": 0x07}, "reserved bits"),
        ({"acc_scale": float("nan")}, "acc_scale"),
        ({"gyro_scale": -1.0}, "gyro_scale"),
    ],
)
def test_decode__invalid_header(kwargs, detail):
    channels = kwargs.get("channels", 3)
    n_channels = 6 if channels & 3 == 3 else 3
    with pytest.raises(FrameError, match=detail) as caught:
        decode(encode_frame(np.zeros((4, n_channels), np.int16), **kwargs))
    assert caught.value.reason == "bad_header"


def test_decode__too_many_samples_is_bad_header():
    with pytest.raises(FrameError, match="n_samples 201") as caught:
        decode(encode_frame(np.zeros((201, 6), np.int16)))
    assert caught.value.reason == "bad_header"


def _golden(name):
    path = GOLDEN / name
    if not path.exists():
        pytest.fail(f"golden vectors missing: {path}")
    return json.loads(path.read_text())


def test_golden_vectors__decode_under_cpython():
    vectors = _golden("imu_frames_v1.json")
    assert len(vectors) >= 5
    for vector in vectors:
        frame = decode(bytes.fromhex(vector["hex"]))
        fields = vector["fields"]
        for name in ("version", "flags", "boot_id", "seq", "t0_us", "period_us", "channels"):
            assert getattr(frame, name) == fields[name], (vector["name"], name)
        assert frame.quality == fields["quality"], vector["name"]
        assert frame.n_samples == fields["n_samples"], vector["name"]
        for name in ("acc_scale", "gyro_scale"):
            # f32 on the wire: compare at f32 precision.
            expected = struct.unpack("<f", struct.pack("<f", fields[name]))[0]
            assert getattr(frame, name) == expected, (vector["name"], name)
        np.testing.assert_array_equal(frame.counts, np.array(vector["samples"]), vector["name"])


def test_golden_vectors__invalid_ones_are_rejected_for_their_reason():
    for vector in _golden("imu_frames_v1_invalid.json"):
        with pytest.raises(FrameError) as caught:
            decode(bytes.fromhex(vector["hex"]))
        assert caught.value.reason == vector["reason"], vector["name"]


_FIRMWARE_FRAME = Path(__file__).parents[2] / "firmware" / "frame.py"
_PROTOCOL = Path(__file__).parents[2] / "docs" / "protocol.md"


def test_quality_bits__the_cloud_table_matches_firmware_and_document():
    import re

    from gaitlink.cloud.protocol.frame import QUALITY_BITS

    section = _PROTOCOL.read_text(encoding="utf-8").split("### 2.2 Quality bits")[1]
    documented = {
        name: 1 << int(bit)
        for bit, name in re.findall(r"^\| (\d+) \| `([A-Z_]+)`", section.split("###")[0], re.M)
    }
    firmware_text = _FIRMWARE_FRAME.read_text(encoding="utf-8").split("# quality bits")[1]
    firmware = {
        name: int(value, 16)
        for name, value in re.findall(
            r"^([A-Z_]+) = const\((0x[0-9A-Fa-f]+)\)", firmware_text, re.M
        )
    }
    assert documented == QUALITY_BITS
    # The device sends every bit but the cloud's own (15).
    assert firmware == {k: v for k, v in QUALITY_BITS.items() if v != 0x8000}


def test_quality_names__valid():
    from gaitlink.cloud.protocol.frame import quality_names

    assert quality_names(0) == ()
    assert quality_names(0x0020) == ("SENSOR_STUCK",)
    assert quality_names(0x8028) == ("OVERRUN", "SENSOR_STUCK", "SEQ_JUMP")
    assert quality_names(0x0040) == ("bit6",)  # reserved: still shown, never hidden


@given(st.integers(0, 0xFFFF))
def test_quality_names__every_set_bit_is_named_once(quality):
    from gaitlink.cloud.protocol.frame import QUALITY_BITS, quality_names

    names = quality_names(quality)
    rebuilt = sum(QUALITY_BITS.get(n, 1 << int(n[3:]) if n.startswith("bit") else 0) for n in names)
    assert rebuilt == quality
    assert len(names) == bin(quality).count("1")


@pytest.mark.parametrize("quality", [-1, 0x10000])
def test_quality_names__invalid(quality):
    from gaitlink.cloud.protocol.frame import quality_names

    with pytest.raises(ValueError, match="16-bit"):
        quality_names(quality)
