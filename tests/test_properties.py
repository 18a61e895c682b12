"""Property tests for the codec: random valid songs round-trip; mutated files never crash it.

(a) A song built from the strategies below is one a strict read accepts once written:
write -> read gives the same rows (with running-status flags where the writer can honour
them, and End of Track added), and write -> read -> write gives the same bytes.
(b) Random byte mutations of the tests/data files: read either returns a Song or raises
MidiError, in both modes, and a Song it returns writes and reads back.
"""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from midigen import Chunk, MidiError, Song, Track, read, write
from midigen.midi.smf import CHANNEL_DATA_LENGTH, END_OF_TRACK, META, META_LENGTHS
from midigen.midi.vlq import MAX_VLQ, MAX_WIDTH, Wide, WideData, minimal_width

DATA = Path(__file__).parent / "data"
FILES = sorted(DATA.rglob("*.mid"))
SETTINGS = settings(max_examples=200, deadline=None)

# -- strategies for valid songs ---------------------------------------------

data_bytes = st.integers(0, 0x7F)


@st.composite
def deltas(draw) -> int:
    value = draw(
        st.one_of(
            st.integers(0, 0x7F), st.integers(0, 0x3FFF), st.integers(0, MAX_VLQ), st.just(MAX_VLQ)
        )
    )
    if draw(st.integers(0, 4)) == 0:  # now and then a VLQ wider than needed
        return Wide(value, draw(st.integers(minimal_width(value), MAX_WIDTH)))
    return value


@st.composite
def payloads(draw, max_size: int = 40) -> bytes:
    payload = draw(st.binary(max_size=max_size))
    if draw(st.integers(0, 4)) == 0:  # a length field wider than needed
        return WideData(payload, draw(st.integers(minimal_width(len(payload)), MAX_WIDTH)))
    return payload


@st.composite
def channel_runs(draw) -> list[tuple]:
    """Channel messages sharing one status: where running status can apply."""
    status = draw(st.integers(0x80, 0xEF))
    size = CHANNEL_DATA_LENGTH[status]
    data = st.lists(data_bytes, min_size=size, max_size=size).map(bytes)
    return [
        (draw(deltas()), status, draw(data), draw(st.booleans()))
        for _ in range(draw(st.integers(1, 6)))
    ]


# Meta types whose layout the reader checks are drawn with a valid payload.
UNCHECKED_META_TYPES = st.integers(0x01, 0x7F).filter(lambda t: t not in META_LENGTHS)
fixed_metas = st.one_of(
    st.binary(min_size=3, max_size=3).map(lambda b: b"\x51" + b),  # tempo
    st.binary(min_size=4, max_size=4)  # time signature, of 1 beat or more
    .filter(lambda b: b[0])
    .map(lambda b: b"\x58" + b),
    st.tuples(st.integers(-7, 7), st.integers(0, 1)).map(  # key signature
        lambda k: bytes((0x59, k[0] & 0xFF, k[1]))
    ),
)


@st.composite
def meta_events(draw) -> tuple:
    if draw(st.booleans()):
        data = draw(fixed_metas)
    else:  # text (0x01-0x0F, long enough for two-byte lengths) or unknown types
        meta_type = draw(UNCHECKED_META_TYPES)
        payload = draw(payloads(max_size=200 if meta_type < 0x10 else 20))
        data = bytes((meta_type,)) + payload
        if isinstance(payload, WideData):
            data = WideData(data, payload.length_width)
    return (draw(deltas()), META, data, draw(st.booleans()))  # the flag must be ignored


@st.composite
def sysex_events(draw) -> tuple:
    return (
        draw(deltas()),
        draw(st.sampled_from([0xF0, 0xF7])),
        draw(payloads()),
        draw(st.booleans()),
    )


track_parts = st.one_of(
    channel_runs(),
    channel_runs(),
    meta_events().map(lambda e: [e]),
    sysex_events().map(lambda e: [e]),
)


@st.composite
def tracks(draw) -> Track:
    rows = [row for part in draw(st.lists(track_parts, max_size=10)) for row in part]
    if draw(st.booleans()):
        rows.append((draw(deltas()), META, b"\x2f", False))
    return Track(rows)


divisions = st.one_of(
    st.integers(1, 0x7FFF),  # ticks per quarter note
    st.tuples(st.sampled_from([24, 25, 29, 30]), st.integers(1, 255)).map(
        lambda smpte: (256 - smpte[0]) << 8 | smpte[1]
    ),
)
chunk_ids = st.binary(min_size=4, max_size=4).map(  # upper case, so never b"MTrk"
    lambda b: bytes(0x41 + x % 26 for x in b)
)


@st.composite
def songs(draw) -> Song:
    smf_format = draw(st.integers(0, 2))
    count = 1 if smf_format == 0 else draw(st.integers(0, 4))
    song_tracks = [draw(tracks()) for _ in range(count)]
    positions = sorted(draw(st.lists(st.integers(0, count), max_size=2)))
    chunks = [
        Chunk(draw(chunk_ids), draw(st.binary(max_size=10)), before_track=p) for p in positions
    ]
    return Song(
        format=smf_format,
        division=draw(divisions),
        tracks=song_tracks,
        header_extra=draw(st.binary(max_size=4)),
        chunks=chunks,
        trailing=b"\0" * draw(st.integers(0, 3)),
    )


def expected_rows(track: Track) -> list[tuple]:
    """The rows a read of the written track gives: running status only where legal."""
    rows, running = [], 0
    for delta, status, data, omitted in track.rows:
        if status < 0xF0:
            rows.append((delta, status, data, omitted and status == running))
            running = status
        else:
            rows.append((delta, status, data, False))
            running = 0
    if not rows or rows[-1][1:3] != (META, bytes((END_OF_TRACK,))):
        rows.append((0, META, bytes((END_OF_TRACK,)), False))
    return rows


def layout(song: Song) -> tuple:
    return (song.format, song.division, song.header_extra, song.chunks, song.trailing)


@SETTINGS
@given(songs())
def test_valid_songs_round_trip(song):
    written = write(song)
    again = read(written, strict=True)
    assert again.warnings == []
    assert layout(again) == layout(song)
    assert [t.rows for t in again.tracks] == [expected_rows(t) for t in song.tracks]
    assert write(again) == written


# -- mutated files ----------------------------------------------------------

interesting_bytes = st.one_of(
    st.integers(0, 0xFF), st.sampled_from([0x00, 0x2F, 0x7F, 0x80, 0xF0, 0xF7, 0xF8, 0xFF])
)
mutations = st.tuples(
    st.sampled_from(["set", "insert", "delete", "truncate"]),
    st.floats(0, 1, exclude_max=True),
    interesting_bytes,
    st.integers(1, 8),
)


def mutate(data: bytes, edits: list[tuple]) -> bytes:
    data = bytearray(data)
    for operation, where, byte, length in edits:
        if not data:
            break
        at = int(where * len(data))
        if operation == "set":
            data[at] = byte
        elif operation == "insert":
            data.insert(at, byte)
        elif operation == "delete":
            del data[at : at + length]
        else:
            del data[at:]
    return bytes(data)


@SETTINGS
@given(st.sampled_from(FILES), st.lists(mutations, min_size=1, max_size=4))
def test_mutated_files_read_or_raise_midi_error(path, edits):
    data = mutate(path.read_bytes(), edits)
    for strict in (False, True):
        try:
            song = read(data, strict=strict)
        except MidiError:
            continue
        written = write(song)
        repaired = read(written)
        assert write(repaired) == written  # a repair is stable
