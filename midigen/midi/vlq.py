"""Variable-length quantities (SMF 1.0): int <-> 7-bit groups, high bit = "more follows".

The reader decodes VLQs inline in its hot loop; this module holds what both
sides share: the encoder, and the two small types that remember a VLQ the
file wrote with more bytes than needed (``0x80 0x00`` for 0 is legal), so the
writer can put the same bytes back.
"""

from __future__ import annotations

MAX_VLQ = 0x0FFFFFFF  # four 7-bit groups: the largest value SMF 1.0 allows
MAX_WIDTH = 4
_SINGLE_BYTES = [bytes((value,)) for value in range(0x80)]


class Wide(int):
    """A delta time the file encoded in ``width`` bytes although fewer would do.

    Arithmetic on it gives a plain int, so an edited delta is written minimally.
    """

    width: int

    def __new__(cls, value: int, width: int) -> Wide:
        self = super().__new__(cls, value)
        self.width = width
        return self

    def __repr__(self) -> str:
        return f"Wide({int(self)}, width={self.width})"

    def __reduce__(self):
        return (Wide, (int(self), self.width))


class WideData(bytes):
    """Meta or sysex payload whose length field the file wrote in ``length_width`` bytes."""

    length_width: int

    def __new__(cls, data: bytes, length_width: int) -> WideData:
        self = super().__new__(cls, data)
        self.length_width = length_width
        return self

    def __repr__(self) -> str:
        return f"WideData({bytes(self)!r}, length_width={self.length_width})"

    def __reduce__(self):
        return (WideData, (bytes(self), self.length_width))


def minimal_width(value: int) -> int:
    """Number of bytes the shortest VLQ encoding of ``value`` takes."""
    width = 1
    while value >= 0x80:
        value >>= 7
        width += 1
    return width


def encode_vlq(value: int, width: int = 1) -> bytes:
    """Encode ``value`` in at least ``width`` bytes (more if the value needs them).

    Raises ValueError for negative values and values above ``MAX_VLQ``; callers
    that write user data turn it into a MidiError with context.
    """
    if 0 <= value < 0x80 and width <= 1:
        return _SINGLE_BYTES[value]
    if value < 0 or value > MAX_VLQ:
        raise ValueError(f"{value} does not fit a variable-length quantity (0..{MAX_VLQ})")
    groups = [value & 0x7F]
    value >>= 7
    while value or len(groups) < width:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))
