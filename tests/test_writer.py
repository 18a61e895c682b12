"""Tests for writer.py: a song read from bytes writes them back; an edited one writes canonically.

Expected files are commented hex dumps or built with ``smf`` (MTrk bodies in, file out).
"""

import struct
from pathlib import Path

import pytest

from midigen import Chunk, Event, MidiError, Song, Track, read, write

DATA = Path(__file__).parent / "data"
EOT = "00 FF 2F 00"


def hexbytes(dump: str) -> bytes:
    """Bytes from a hex dump; '#' starts a comment, whitespace is ignored."""
    return bytes.fromhex("".join(line.partition("#")[0] for line in dump.splitlines()))


def smf(*tracks: str, fmt: int | None = None, division: int = 96) -> bytes:
    """A Standard MIDI File around the given MTrk bodies, written as hex dumps."""
    bodies = [hexbytes(t) for t in tracks]
    fmt = (0 if len(bodies) == 1 else 1) if fmt is None else fmt
    header = b"MThd" + struct.pack(">IHHH", 6, fmt, len(bodies), division)
    return header + b"".join(b"MTrk" + struct.pack(">I", len(b)) + b for b in bodies)


def song_of(*events: tuple, fmt: int = 0) -> Song:
    return Song(format=fmt, division=96, tracks=[Track(Event(*e) for e in events)])


def riff_sizes(data: bytes) -> tuple[int, int]:
    """(RIFF size, data chunk size) of an RMID file whose first chunk is 'data'."""
    assert data[:4] == b"RIFF" and data[8:16] == b"RMIDdata"
    return struct.unpack_from("<I", data, 4)[0], struct.unpack_from("<I", data, 16)[0]


# -- new songs --------------------------------------------------------------


def test_empty_song():
    assert write(Song()) == hexbytes("""
        4D 54 68 64 00 00 00 06   # MThd, length 6
        00 01 00 00 01 E0         # format 1, no tracks, 480 ticks per quarter
    """)


def test_new_song_gets_end_of_track():
    song = song_of((0, 0x90, b"\x3c\x40"), (0x60, 0x90, b"\x3c\x00", True))
    assert write(song) == hexbytes("""
        4D 54 68 64 00 00 00 06  00 00 00 01 00 60
        4D 54 72 6B 00 00 00 0B
        00 90 3C 40   # note on
        60 3C 00      # running status, as the event asks
        00 FF 2F 00   # End of Track, added by the writer
    """)


def test_empty_track_gets_end_of_track():
    assert write(Song(format=0, division=96, tracks=[Track()])) == smf(EOT)


def test_unknown_chunks_written_where_they_sat():
    song = Song(
        format=1,
        division=96,
        tracks=[Track(), Track()],
        chunks=[
            Chunk(b"XFIH", b"\x01", before_track=1),
            Chunk(b"XFKM", b"\x02\x03", before_track=2),
        ],
    )
    assert write(song) == hexbytes(f"""
        4D 54 68 64 00 00 00 06  00 01 00 02 00 60
        4D 54 72 6B 00 00 00 04  {EOT}
        58 46 49 48 00 00 00 01  01         # XFIH, between the tracks
        4D 54 72 6B 00 00 00 04  {EOT}
        58 46 4B 4D 00 00 00 02  02 03      # XFKM, after the last track
    """)


# -- unchanged songs give back their bytes ----------------------------------

ROUND_TRIPS = {
    "restated status stays restated": "00 90 3C 40  00 90 3E 40  00 90 40 40",
    "omitted status stays omitted": "00 90 3C 40  00 3E 40  00 40 40",
    "mixed": "00 90 3C 40  00 3E 40  00 90 40 40  00 40 00  00 80 3C 40  00 3E 40",
    "restated after meta": "00 90 3C 40  00 FF 01 01 41  00 90 3C 00  00 3E 40",
    "restated after sysex": "00 90 3C 40  00 F0 02 7E F7  00 90 3C 00  00 3E 40",
    "restated after F7 escape": "00 90 3C 40  00 F7 01 FC  00 90 3C 00  00 3E 40",
    "sysex packets": "00 F0 03 43 12 00  10 F7 02 43 12  10 F7 02 00 F7",
    "non-minimal delta": "80 00 90 3C 40  80 80 80 60 3C 00  81 00 3E 40",
    "non-minimal meta length": "00 FF 01 80 80 01 41  00 F0 80 02 7E F7  00 F7 80 80 00",
    "empty meta and sysex": "00 FF 01 00  00 F0 00  00 F7 00",
}


@pytest.mark.parametrize("body", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip(body):
    data = smf(body + EOT)
    assert write(read(data, strict=True)) == data


def test_header_extra_bytes_kept():
    data = (DATA / "crafted_header_length_8.mid").read_bytes()
    song = read(data)
    assert write(song) == data
    song.tracks[1].pop(-2)  # an edit elsewhere keeps the header as it was
    assert write(song)[:16] == data[:16]


def test_unknown_chunk_between_tracks_kept():
    data = (DATA / "crafted_unknown_chunk_between_tracks.mid").read_bytes()
    assert write(read(data)) == data


def test_trailing_zero_bytes_kept():
    data = smf(EOT) + b"\0\0\0\0"
    assert write(read(data, strict=True)) == data


def test_bytes_after_end_of_track_kept_when_tolerant():
    data = smf(EOT + "00 90 3C 40")
    assert write(read(data)) == data


# -- running status under edits ---------------------------------------------

RUNNING = smf("00 90 3C 40  60 3C 00  00 3E 40  60 3E 00" + EOT)


def test_inserting_an_event_restates_status():
    song = read(RUNNING)
    song.tracks[0].insert(2, (0, 0xB0, b"\x40\x7f"))
    body = """
        00 90 3C 40
        60 3C 00
        00 B0 40 7F   # inserted
        00 90 3E 40   # was running status; the status in force is now B0
        60 3E 00      # running status again
    """
    assert write(song) == smf(body + EOT)


def test_removing_the_explicit_event_restates_status():
    song = read(RUNNING)
    del song.tracks[0][0]
    assert write(song) == smf("60 90 3C 00  00 3E 40  60 3E 00" + EOT)


def test_changing_a_status_restates_the_next():
    song = read(RUNNING)
    track = song.tracks[0]
    track[1] = track[1]._replace(status=0x80, data=b"\x3c\x40")  # still flagged running
    assert write(song) == smf("00 90 3C 40  60 80 3C 40  00 90 3E 40  60 3E 00" + EOT)


@pytest.mark.parametrize(
    "cancelling",
    [
        (0, 0xFF, b"\x01\x41"),
        (0, 0xF0, b"\x7e\xf7"),
        (0, 0xF7, b"\xfc"),
    ],
    ids=["meta", "sysex", "escape"],
)
def test_running_flag_ignored_after_meta_and_sysex(cancelling):
    song = song_of((0, 0x90, b"\x3c\x40"), cancelling, (0, 0x90, b"\x3c\x00", True))
    written = write(song)
    assert written.endswith(hexbytes("00 90 3C 00" + EOT))
    assert read(written, strict=True).tracks[0][2] == (0, 0x90, b"\x3c\x00", False)


def test_running_flag_ignored_without_running_status():
    song = song_of((0, 0x90, b"\x3c\x40", True), (0, 0x80, b"\x3c\x40", True))
    assert write(song) == smf("00 90 3C 40  00 80 3C 40" + EOT)


# -- layout hints under edits -----------------------------------------------

NON_MINIMAL = hexbytes("""
    4D 54 68 64 00 00 00 06  00 00 00 01 00 60
    4D 54 72 6B 00 00 00 22
    80 00 FF 03 80 05 6C 65 61 64 20   # delta 80 00, track name of length 80 05: "lead "
    80 80 00 90 3C 50                  # delta 80 80 00
    80 80 80 60 3C 00                  # delta 80 80 80 60, running status
    80 30 3E 50
    30 3E 00
    00 FF 2F 00
""")


def test_crafted_non_minimal_file_matches_dump():
    assert (DATA / "crafted_vlq_non_minimal.mid").read_bytes() == NON_MINIMAL
    assert write(read(NON_MINIMAL, strict=True)) == NON_MINIMAL


def test_edited_wide_delta_written_minimally():
    song = read(NON_MINIMAL)
    track = song.tracks[0]
    track[2] = track[2]._replace(delta=track[2].delta + 0)  # arithmetic drops the width
    assert write(song) == NON_MINIMAL.replace(b"\x00\x00\x00\x22", b"\x00\x00\x00\x1f").replace(
        hexbytes("80 80 80 60 3C 00"), hexbytes("60 3C 00")
    )


def test_edited_meta_payload_written_minimally():
    song = read(NON_MINIMAL)
    track = song.tracks[0]
    track[0] = track[0]._replace(data=b"\x03bass")
    assert write(song) == NON_MINIMAL.replace(b"\x00\x00\x00\x22", b"\x00\x00\x00\x20").replace(
        hexbytes("80 00 FF 03 80 05 6C 65 61 64 20"), hexbytes("80 00 FF 03 04 62 61 73 73")
    )


# -- End of Track under edits -----------------------------------------------


def test_appending_after_end_of_track():
    song = read(smf("00 90 3C 40  30 FF 2F 00"))
    song.tracks[0].append((0x10, 0x80, b"\x3c\x40"))
    written = write(song)
    # The note-off keeps its time (0x30 + 0x10), the End of Track moves behind it.
    assert written == smf("00 90 3C 40  40 80 3C 40" + EOT)
    again = read(written, strict=True)
    assert again.tracks[0][-1] == (0, 0xFF, b"\x2f", False)


def test_removing_end_of_track():
    song = read(smf("00 90 3C 40  30 FF 2F 00"))
    song.tracks[0].pop()
    assert write(song) == smf("00 90 3C 40" + EOT)


# -- RMID -------------------------------------------------------------------


def test_rmid_unchanged():
    data = (DATA / "crafted_riff_rmid.mid").read_bytes()
    assert write(read(data, strict=True)) == data


def add_program_change(track: Track) -> None:
    track.insert(-1, (0, 0xC0, b"\x05"))  # 00 C0 05


def add_long_text(track: Track) -> None:
    track.insert(-1, (0, 0xFF, b"\x01" + bytes(200)))  # 00 FF 01 81 48 and 200 bytes


def remove_program_change(track: Track) -> None:
    del track[1]  # 00 C0 40


@pytest.mark.parametrize(
    ("edit", "growth"),
    [(add_program_change, 3), (add_long_text, 205), (remove_program_change, -3)],
    ids=["add_program_change", "add_long_text", "remove_program_change"],
)
def test_rmid_sizes_patched_after_edit(edit, growth):
    data = (DATA / "crafted_riff_rmid.mid").read_bytes()
    song = read(data)
    edit(song.tracks[1])
    written = write(song)
    riff_size, data_size = riff_sizes(data)
    pad = (data_size + growth) & 1  # the data chunk is even-sized: an odd one gains a pad byte
    assert riff_sizes(written) == (riff_size + growth + pad, data_size + growth)
    assert len(written) == len(data) + growth + pad
    song.riff = None
    assert written[20:] == write(song) + b"\0" * pad
    assert read(written, strict=True).riff is not None


def walk_riff(data: bytes) -> list[bytes]:
    """Chunk ids of a RIFF form, following the spec: odd-sized chunks get a pad byte."""
    ids, pos = [], 12
    while pos < len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        ids.append(chunk_id)
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    return ids


def rmid(smf_bytes: bytes, after: bytes) -> bytes:
    """An RMID file: the SMF in a 'data' chunk (padded to even length), then ``after``."""
    pad = b"\0" * (len(smf_bytes) & 1)
    body = b"RMID" + b"data" + struct.pack("<I", len(smf_bytes)) + smf_bytes + pad + after
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("inner", [smf(EOT), smf("00 FF 01 01 41" + EOT)], ids=["even", "odd"])
def test_rmid_edit_keeps_riff_chunks_aligned(inner):
    data = rmid(inner, after=b"LIST" + struct.pack("<I", 4) + b"INFO")
    assert walk_riff(data) == [b"data", b"LIST"]
    song = read(data, strict=True)
    song.tracks[0].insert(0, (0, 0xC0, b"\x05"))  # 3 bytes more: the length changes parity
    assert walk_riff(write(song)) == [b"data", b"LIST"]


# -- values no file can hold ------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (
            0x10000000,
            "cannot encode an event: 268435456 does not"
            " fit a variable-length quantity (0..268435455) (track 0)",
        ),
        (
            -1,
            "cannot encode an event: -1 does not"
            " fit a variable-length quantity (0..268435455) (track 0)",
        ),
    ],
)
def test_unencodable_delta_raises(delta, message):
    with pytest.raises(MidiError):
        Track([(delta, 0x90, b"\x3c\x40", False)])
    track = Track()
    track.rows.append((delta, 0x90, b"\x3c\x40", False))  # raw rows skip the checks
    song = Song(format=0, division=96, tracks=[track])
    with pytest.raises(MidiError) as caught:
        write(song)
    assert str(caught.value) == message


def test_track_built_from_three_tuples():
    song = Song(format=0, division=96, tracks=[Track([(0, 0x90, b"\x3c\x40")])])
    assert write(song) == smf("00 90 3C 40" + EOT)


def test_track_built_from_invalid_event_is_rejected():
    with pytest.raises(MidiError):
        Track([(0, 0x90, b"\x3c", False)])
    with pytest.raises(MidiError):
        Track([(0, 0xF8, b"", False)])


def test_a_wait_longer_than_one_delta_time_is_carried_by_empty_text_events():
    from midigen.midi.song import MAX_DELTA, delta_rows

    wait = 2 * MAX_DELTA + 5
    rows = delta_rows([(0, 0x90, b"\x3c\x40", True), (wait, 0x80, b"\x3c\x00", True)])
    assert rows == [
        (0, 0x90, b"\x3c\x40", True),
        (MAX_DELTA, 0xFF, b"\x01", False),
        (MAX_DELTA, 0xFF, b"\x01", False),
        (5, 0x80, b"\x3c\x00", True),
    ]
    song = Song(format=0, division=96, tracks=[Track(rows)])
    back = read(write(song)).tracks[0].rows
    assert [row[:3] for row in back[:4]] == [row[:3] for row in rows]
    assert sum(row[0] for row in back[:4]) == wait  # the note-off sits where it was asked


def test_tokens_that_ask_for_a_silence_past_the_delta_limit_decode(tmp_path):
    from click.testing import CliRunner

    from midigen.cli import main

    text = tmp_path / "long.txt"  # 800,000 beats of rest: past 0x0FFFFFFF ticks at 480 a beat
    text.write_text("EVENT_24 " + "SHIFT_96 " * 200_000 + "NOTE_60 VEL_10 DUR_24\n")
    result = CliRunner().invoke(main, ["detokenize", str(text), "-o", str(tmp_path / "l.mid")])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    note_on = None
    for track in read(tmp_path / "l.mid").tracks:
        ticks = 0
        for delta, status, data, _ in track.rows:
            ticks += delta
            if status & 0xF0 == 0x90 and data[1]:
                note_on = ticks
    assert note_on == 800_000 * 480  # the rest, to the tick, at 480 ticks a beat
