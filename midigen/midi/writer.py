"""Song -> bytes: the exact bytes a Song was read from, or canonical ones for edits.

What makes the output byte-exact is carried by the Song itself (see song.py):
running-status flags, Wide deltas, WideData lengths, header extra bytes,
unknown chunks, bytes after End of Track or after the last chunk, the RMID
wrapper.  The writer only honours those hints where they are still valid: a
status byte is omitted only if it equals the running status in force, and
meta and sysex events always cancel running status, as SMF 1.0 requires.
"""

from __future__ import annotations

import struct

from ..errors import MidiError
from .smf import END_OF_TRACK, META
from .song import Song, Track, expect_song, is_end_of_track
from .vlq import Wide, WideData, encode_vlq

END_OF_TRACK_EVENT = b"\x00\xff\x2f\x00"
MAX_RIFF_SIZE = 0xFFFFFFFF
MAX_HEADER_FIELD = 0xFFFF  # MThd's format, track count and division are 16-bit
_BYTE = [bytes((value,)) for value in range(256)]


def write(song: Song) -> bytes:
    """Encode a Song as a Standard MIDI File (inside its RMID wrapper, if it had one).

    Raises:
        MidiError: an event holds a value no MIDI file can store.
        TypeError: not a Song.
    """
    expect_song(song, "write")
    for name, value in (("format", song.format), ("division", song.division)):
        if not 0 <= value <= MAX_HEADER_FIELD:
            raise MidiError(f"the {name} must be a 16-bit number, not {value}")
    if len(song.tracks) > MAX_HEADER_FIELD:
        raise MidiError(
            f"a MIDI file holds at most {MAX_HEADER_FIELD:,} tracks; this song has "
            f"{len(song.tracks):,}"
        )
    out = bytearray(b"MThd")
    out += struct.pack(
        ">IHHH", 6 + len(song.header_extra), song.format, len(song.tracks), song.division
    )
    out += song.header_extra
    chunks = sorted(song.chunks, key=lambda chunk: chunk.before_track)
    next_chunk = 0
    for index, track in enumerate(song.tracks):
        while next_chunk < len(chunks) and chunks[next_chunk].before_track <= index:
            out += _chunk(chunks[next_chunk].id, chunks[next_chunk].data)
            next_chunk += 1
        try:
            out += _chunk(b"MTrk", track_to_bytes(track))
        except MidiError as error:
            error.track = index
            raise
    for chunk in chunks[next_chunk:]:
        out += _chunk(chunk.id, chunk.data)
    out += song.trailing
    return _wrap_riff(song, bytes(out)) if song.riff else bytes(out)


def track_to_bytes(track: Track) -> bytes:
    """Encode one track's events (the MTrk chunk body).

    Flattened for speed (scripts/bench_codec.py): the parts go to a list
    joined once, and channel messages with deltas of one or two bytes,
    nearly every event, take the first branch.
    """
    parts: list[bytes] = []
    add = parts.append
    running = 0
    ends = 0  # End of Track events seen
    rows = track.rows
    byte = _BYTE  # a local: faster than a global in the loop
    try:
        for delta, status, data, omitted in rows:
            if status < 0xF0 and 0 <= delta < 0x4000 and delta.__class__ is int:
                if delta < 0x80:
                    add(byte[delta])
                else:  # a two-byte delta: 11% of events in the real corpus
                    add(byte[0x80 | delta >> 7])
                    add(byte[delta & 0x7F])
                if not omitted or status != running:
                    add(byte[status])
                    running = status
                add(data)
                continue
            add(encode_vlq(delta, delta.width if delta.__class__ is Wide else 1))
            if status < 0xF0:
                if not omitted or status != running:
                    add(byte[status])
                    running = status
                add(data)
                continue
            running = 0
            if status == META:
                ends += data[0] == END_OF_TRACK
                add(b"\xff")
                add(data[:1])
                add(encode_vlq(len(data) - 1, _length_width(data)))
                add(data[1:])
            else:
                add(byte[status])
                add(encode_vlq(len(data), _length_width(data)))
                add(data)
    except (ValueError, TypeError, IndexError) as error:
        raise MidiError(f"cannot encode an event: {error}") from None
    ended = bool(rows) and is_end_of_track(rows[-1])
    if ends > ended:  # edits left an End of Track before other events
        return track_to_bytes(Track(_without_inner_end(rows), track.trailing))
    if not ended:
        add(END_OF_TRACK_EVENT)
    add(track.trailing)
    return b"".join(parts)


def _length_width(data: bytes) -> int:
    return data.length_width if data.__class__ is WideData else 1


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    if len(body) > 0xFFFFFFFF:
        raise MidiError(f"{chunk_id!r} chunk of {len(body)} bytes exceeds the 4 GiB limit")
    return chunk_id + struct.pack(">I", len(body)) + body


def _wrap_riff(song: Song, smf: bytes) -> bytes:
    """Put the SMF back into its RMID wrapper, patching what a change of length affects.

    RIFF chunks of odd length are followed by a pad byte; when an edit flips
    the parity of the SMF, the pad byte comes or goes, so the chunks after it
    (a LIST of song info, say) stay aligned.
    """
    prefix = bytearray(song.riff.prefix)
    suffix = song.riff.suffix
    old_size = struct.unpack_from("<I", prefix, len(prefix) - 4)[0]
    growth = len(smf) - old_size
    if growth:
        if old_size % 2 and not len(smf) % 2 and suffix[:1] == b"\0":
            suffix = suffix[1:]
            growth -= 1
        elif not old_size % 2 and len(smf) % 2:
            suffix = b"\0" + suffix
            growth += 1
        struct.pack_into("<I", prefix, len(prefix) - 4, len(smf))
        riff_size = struct.unpack_from("<I", prefix, 4)[0]
        struct.pack_into("<I", prefix, 4, min(max(riff_size + growth, 0), MAX_RIFF_SIZE))
    return bytes(prefix) + smf + suffix


def _without_inner_end(rows: list[tuple]) -> list[tuple]:
    """Drop End of Track events that edits left before other events, keeping their time."""
    kept: list[tuple] = []
    carry = 0
    for row in rows[:-1]:
        if is_end_of_track(row):
            carry += row[0]
        else:
            kept.append((row[0] + carry, *row[1:]) if carry else row)
            carry = 0
    last = rows[-1]
    kept.append((last[0] + carry, *last[1:]) if carry else last)
    return kept
