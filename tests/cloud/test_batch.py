"""The frame batch of docs/protocol.md §2.5: the cloud's decoder, the gateway's encoder,
and the golden vectors that hold both to the document."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitlink.cloud.protocol import batch as cloud_batch
from gaitlink.cloud.protocol.batch import REJECT_REASONS, BatchError, decode_batch
from gaitlink.cloud.protocol.frame import FrameError, decode
from gaitlink.gateway import batch as gateway_batch
from gaitlink.gateway.batch import encode_batch
from tests.cloud.frames import encode_frame

GOLDEN = Path(__file__).parents[1] / "golden"


def _load(name: str) -> list[dict]:
    return json.loads((GOLDEN / name).read_text())


def _frames_by_name() -> dict[str, bytes]:
    named = _load("imu_frames_v1.json") + _load("imu_frames_v1_invalid.json")
    return {v["name"]: bytes.fromhex(v["hex"]) for v in named}


frame_payloads = st.lists(st.binary(max_size=300), min_size=1, max_size=40)


def test_golden_batches__decode_to_the_named_frames_and_each_frame_to_its_fate():
    frames = _frames_by_name()
    for vector in _load("imu_batches_v1.json"):
        inner = decode_batch(bytes.fromhex(vector["hex"]))
        assert inner == [frames[name] for name in vector["frames"]], vector["name"]
        for payload, reason in zip(inner, vector["frame_reasons"], strict=True):
            if reason is None:
                decode(payload)
            else:
                with pytest.raises(FrameError) as caught:
                    decode(payload)
                assert caught.value.reason == reason, vector["name"]


def test_golden_batches__the_gateway_encoder_makes_the_same_bytes():
    frames = _frames_by_name()
    for vector in _load("imu_batches_v1.json"):
        if vector["name"] == "flags_reserved_bits_set":
            continue  # the encoder sends reserved bits 0, as the document says
        encoded = encode_batch([frames[name] for name in vector["frames"]])
        assert encoded.hex() == vector["hex"], vector["name"]


def test_golden_batches__invalid_ones_are_rejected_for_their_reason():
    vectors = _load("imu_batches_v1_invalid.json")
    assert {v["reason"] for v in vectors} == set(REJECT_REASONS)
    for vector in vectors:
        with pytest.raises(BatchError) as caught:
            decode_batch(bytes.fromhex(vector["hex"]))
        assert caught.value.reason == vector["reason"], vector["name"]


def test_batch_constants__encoder_and_decoder_agree():
    for name in ("MAGIC", "VERSION", "MAX_FRAMES"):
        assert getattr(gateway_batch, name) == getattr(cloud_batch, name), name


@given(frame_payloads)
def test_decode_batch__round_trip_of_the_gateway_encoder(frames):
    assert decode_batch(encode_batch(frames)) == frames


@given(st.binary(max_size=3000))
def test_decode_batch__arbitrary_bytes_raise_only_batch_error(data):
    try:
        frames = decode_batch(data)
    except BatchError as exc:
        assert exc.reason in REJECT_REASONS
    else:
        # What it accepts is exactly frames with their lengths: nothing read twice or skipped.
        assert 1 <= len(frames) <= cloud_batch.MAX_FRAMES
        assert len(data) == cloud_batch.HEADER.size + sum(4 + len(f) for f in frames)


@given(st.binary(max_size=200), st.binary(max_size=3000))
def test_decode_batch__arbitrary_bytes_after_a_valid_header_raise_only_batch_error(tail, more):
    data = b"GB\x01\x00" + tail[:2].ljust(2, b"\x01") + more
    try:
        decode_batch(data)
    except BatchError as exc:
        assert exc.reason in REJECT_REASONS


@given(frames=frame_payloads, data=st.data())
def test_decode_batch__any_change_to_a_length_or_the_count_is_rejected(frames, data):
    encoded = bytearray(encode_batch(frames))
    # Where the count and every length prefix sit.
    places, pos = [4, 5], cloud_batch.HEADER.size
    for frame in frames:
        places += range(pos, pos + 4)
        pos += 4 + len(frame)
    i = data.draw(st.sampled_from(places))
    encoded[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(BatchError):
        decode_batch(bytes(encoded))


def test_encode_batch__invalid_counts_are_refused():
    with pytest.raises(ValueError, match=r"1\.\.1000 frames, not 0"):
        encode_batch([])
    with pytest.raises(ValueError, match="not 1001"):
        encode_batch([b""] * 1001)


def test_decode_batch__real_frames_decode_one_by_one():
    counts = np.arange(60, dtype=np.int16).reshape(10, 6)
    frames = [encode_frame(counts, seq=s) for s in range(3)]
    assert [decode(f).seq for f in decode_batch(encode_batch(frames))] == [0, 1, 2]
