"""Tests for vlq.py: encode_vlq, minimal_width, and the Wide / WideData layout hints."""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midigen.midi.vlq import MAX_VLQ, MAX_WIDTH, Wide, WideData, encode_vlq, minimal_width

# The example table of SMF 1.0 ("Variable-Length Quantities"), value -> bytes.
SPEC_EXAMPLES = [
    (0x00000000, "00"),
    (0x00000040, "40"),
    (0x0000007F, "7F"),
    (0x00000080, "81 00"),
    (0x00002000, "C0 00"),
    (0x00003FFF, "FF 7F"),
    (0x00004000, "81 80 00"),
    (0x00100000, "C0 80 00"),
    (0x001FFFFF, "FF FF 7F"),
    (0x00200000, "81 80 80 00"),
    (0x08000000, "C0 80 80 00"),
    (0x0FFFFFFF, "FF FF FF 7F"),
]


def decode_vlq(encoded: bytes) -> int:
    """Reference decoder, written independently of the reader's inline one."""
    value = 0
    for index, byte in enumerate(encoded):
        value = value << 7 | byte & 0x7F
        assert (byte >= 0x80) == (index < len(encoded) - 1), "continuation bits are wrong"
    return value


@pytest.mark.parametrize(("value", "dump"), SPEC_EXAMPLES, ids=[d for _, d in SPEC_EXAMPLES])
def test_encode_vlq_matches_spec_table(value, dump):
    assert encode_vlq(value) == bytes.fromhex(dump)


@pytest.mark.parametrize(("value", "dump"), SPEC_EXAMPLES, ids=[d for _, d in SPEC_EXAMPLES])
def test_minimal_width_matches_spec_table(value, dump):
    assert minimal_width(value) == len(bytes.fromhex(dump))


@pytest.mark.parametrize(
    ("value", "width", "dump"),
    [
        (0, 2, "80 00"),  # the redundant form crafted_vlq_non_minimal.mid uses
        (0, 4, "80 80 80 00"),
        (5, 3, "80 80 05"),
        (0x80, 3, "80 81 00"),
        (0x3FFF, 1, "FF 7F"),  # a width below the minimum is ignored
        (0x0FFFFFFF, 2, "FF FF FF 7F"),
    ],
)
def test_encode_vlq_pads_to_width(value, width, dump):
    assert encode_vlq(value, width) == bytes.fromhex(dump)


@pytest.mark.parametrize("value", [-1, MAX_VLQ + 1, 2**32])
def test_encode_vlq_rejects_out_of_range(value):
    with pytest.raises(ValueError, match="does not fit a variable-length quantity"):
        encode_vlq(value)


def test_bounds():
    assert MAX_VLQ == 0x0FFFFFFF
    assert MAX_WIDTH == 4
    assert minimal_width(MAX_VLQ) == MAX_WIDTH


@settings(max_examples=200, deadline=None)
@given(st.integers(0, MAX_VLQ), st.integers(1, MAX_WIDTH))
def test_encode_decode_round_trip(value, width):
    encoded = encode_vlq(value, width)
    assert decode_vlq(encoded) == value
    assert len(encoded) == max(width, minimal_width(value))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, MAX_VLQ))
def test_minimal_width_is_shortest(value):
    width = minimal_width(value)
    assert value < 1 << 7 * width
    assert width == 1 or value >= 1 << 7 * (width - 1)


def test_wide_is_the_int_it_wraps():
    delta = Wide(0, 2)
    assert delta == 0
    assert isinstance(delta, int)
    assert delta.width == 2
    assert repr(delta) == "Wide(0, width=2)"
    assert encode_vlq(delta, delta.width) == b"\x80\x00"


def test_wide_arithmetic_gives_plain_int():
    """An edited delta forgets its width, so the writer encodes it minimally."""
    edited = Wide(96, 4) + 0
    assert type(edited) is int
    assert edited == 96


def test_wide_data_is_the_bytes_it_wraps():
    payload = WideData(b"lead ", 2)
    assert payload == b"lead "
    assert payload.length_width == 2
    assert repr(payload) == "WideData(b'lead ', length_width=2)"
    assert type(payload + b"x") is bytes
    assert type(payload[1:]) is bytes


@pytest.mark.parametrize("value", [Wide(7, 3), WideData(b"\x01\x02", 4)], ids=repr)
def test_layout_hints_survive_pickle(value):
    """Songs cross process boundaries (``--jobs``); the hints must travel with them."""
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value
    assert type(copy) is type(value)
    assert vars(copy) == vars(value)
