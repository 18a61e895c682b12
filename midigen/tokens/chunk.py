"""Song <-> chunk tokens: one upper-case hex pseudo-word per SMF event, lossless.

Grammar (tokens are separated by spaces; ``to_text`` starts a new line at
every MTRK, CHUNK and TRAILING token)::

    MTHD_<format>_<division>[_<extra header bytes>]     first token, always
    RMID_<bytes before the SMF>_<bytes after it>         only for RIFF RMID files
    MTRK                                                 a track starts
    <delta>_<status>_<data>[_<length>]                   one event
    AFTER_<bytes>                                        bytes after End of Track
    CHUNK_<id>_<bytes>                                   an unknown chunk
    TRAILING_<bytes>                                     bytes after the last chunk

An event token reads ``00_90_3C64``: delta 0, note-on channel 1, key 0x3C,
velocity 0x64.  Meta events put their type beside the status
(``00_FF51_07A120``, a tempo); sysex packets are ``F0``/``F7`` with their
payload.  The delta is the tick count in hex with two digits per byte the
file spent on it, so ``0000`` is a delta of 0 written in two bytes (a
non-minimal VLQ) and ``00E0`` is 224, which needs two.  A status the file
omitted (running status) is written ``R90``.  ``_<length>`` appears only when
a meta or sysex length was written wider than needed, in the same notation.
"""

from __future__ import annotations

from ..errors import TokenError
from ..midi.smf import CHANNEL_DATA_LENGTH, META
from ..midi.song import Chunk, Riff, Song, Track
from ..midi.vlq import MAX_VLQ, Wide, WideData, minimal_width

HEADER = "MTHD"
TRACK = "MTRK"
LINE_STARTS = ("MTRK", "CHUNK_", "TRAILING_")
SPECIAL = ("RMID", "AFTER", "CHUNK", "TRAILING")

_STATUS_HEX = {status: f"{status:02X}" for status in range(0x80, 0x100)}
_RUNNING_HEX = {status: f"R{status:02X}" for status in range(0x80, 0xF0)}
_DELTA_HEX = [f"{delta:02X}" for delta in range(0x80)]


def song_to_chunk_tokens(song: Song) -> list[str]:
    """Every byte of the song as tokens; chunk_tokens_to_song gives it back."""
    header = f"{HEADER}_{song.format:04X}_{song.division:04X}"
    if song.header_extra:
        header += "_" + song.header_extra.hex().upper()
    tokens = [header]
    if song.riff:
        tokens.append(f"RMID_{song.riff.prefix.hex().upper()}_{song.riff.suffix.hex().upper()}")
    chunks = sorted(song.chunks, key=lambda chunk: chunk.before_track)
    for index, track in enumerate(song.tracks):
        tokens += [_chunk_token(c) for c in chunks if c.before_track == index]
        tokens.append(TRACK)
        tokens += map(_event_token, track.rows)
        if track.trailing:
            tokens.append("AFTER_" + track.trailing.hex().upper())
    tokens += [_chunk_token(c) for c in chunks if c.before_track >= len(song.tracks)]
    if song.trailing:
        tokens.append("TRAILING_" + song.trailing.hex().upper())
    return tokens


def _chunk_token(chunk: Chunk) -> str:
    return f"CHUNK_{chunk.id.hex().upper()}_{chunk.data.hex().upper()}"


def _event_token(row: tuple) -> str:
    delta, status, data, running = row
    if delta < 0x80 and delta.__class__ is int:
        delta_hex = _DELTA_HEX[delta]
    else:
        delta_hex = _vlq_hex(delta)
    if status < 0xF0:
        return (
            f"{delta_hex}_{(_RUNNING_HEX if running else _STATUS_HEX)[status]}_{data.hex().upper()}"
        )
    if status == META:
        token = f"{delta_hex}_FF{data[0]:02X}_{data[1:].hex().upper()}"
        size = len(data) - 1
    else:
        token = f"{delta_hex}_{status:02X}_{data.hex().upper()}"
        size = len(data)
    if isinstance(data, WideData):
        token += "_" + _vlq_hex(Wide(size, data.length_width))
    return token


def _vlq_hex(value: int) -> str:
    """The value in hex, two digits per byte its VLQ takes (more if it was written wide)."""
    width = max(minimal_width(value), getattr(value, "width", 1))
    return f"{int(value):0{2 * width}X}"


def chunk_tokens_to_song(tokens: list[str]) -> Song:
    """Rebuild the song from chunk tokens.

    Raises:
        TokenError: a token is malformed; ``offset`` is its index.
    """
    if not tokens or not tokens[0].startswith(HEADER + "_"):
        raise TokenError("chunk tokens must start with an MTHD_ header token", offset=0)
    song = _header(tokens[0])
    track: Track | None = None
    for index, token in enumerate(tokens[1:], start=1):
        try:
            if token == TRACK:
                track = Track()
                song.tracks.append(track)
            elif token.partition("_")[0] in SPECIAL:
                track = _parse_special(song, token, track)
            elif track is None:
                raise ValueError("an event before the first MTRK token")
            else:
                track.rows.append(_parse_event(token))
        except (ValueError, IndexError) as error:
            raise TokenError(f"bad chunk token {token[:40]!r}: {error}", offset=index) from None
    return song


def _header(token: str) -> Song:
    fields = token.split("_")
    try:
        if len(fields) not in (3, 4) or len(fields[1]) != 4 or len(fields[2]) != 4:
            raise ValueError("expected MTHD_<format>_<division>[_<extra>]")
        return Song(
            format=int(fields[1], 16),
            division=int(fields[2], 16),
            tracks=[],
            header_extra=bytes.fromhex(fields[3]) if len(fields) == 4 else b"",
        )
    except ValueError as error:
        raise TokenError(f"bad header token {token[:40]!r}: {error}", offset=0) from None


def _parse_special(song: Song, token: str, track: Track | None) -> Track | None:
    """RMID, AFTER, CHUNK and TRAILING tokens; returns the track events now go to."""
    kind, _, rest = token.partition("_")
    if kind == "RMID":
        prefix, suffix = rest.split("_")
        if len(prefix) < 16:
            raise ValueError("RMID prefix too short to hold the RIFF and data headers")
        song.riff = Riff(bytes.fromhex(prefix), bytes.fromhex(suffix))
        return track
    if kind == "AFTER" and track is not None:
        track.trailing = bytes.fromhex(rest)
        return track
    if kind == "CHUNK":
        chunk_id, data = rest.split("_")
        if len(chunk_id) != 8:
            raise ValueError("a chunk id is 4 bytes")
        song.chunks.append(Chunk(bytes.fromhex(chunk_id), bytes.fromhex(data), len(song.tracks)))
        return None
    if kind == "TRAILING":
        song.trailing = bytes.fromhex(rest)
        return None
    raise ValueError("unknown token")


def _parse_event(token: str) -> tuple:
    fields = token.split("_")
    if len(fields) not in (3, 4):
        raise ValueError("expected DELTA_STATUS_DATA")
    delta = _parse_vlq(fields[0])
    status_hex, data = fields[1], bytes.fromhex(fields[2])
    running = status_hex.startswith("R")
    status = int(status_hex[running : running + 2], 16)
    if len(status_hex) != 2 + running + 2 * (status == META):
        raise ValueError("bad status field")
    if status < 0xF0:
        if not 0x80 <= status or len(fields) == 4:
            raise ValueError("not a channel status")
        if len(data) != CHANNEL_DATA_LENGTH[status] or not data.isascii():
            raise ValueError(
                f"status {status:02X} takes {CHANNEL_DATA_LENGTH[status]} data bytes below 80"
            )
        return (delta, status, data, running)
    if running or status not in (META, 0xF0, 0xF7):
        raise ValueError("not a meta, sysex or channel status")
    if status == META:
        data = bytes((int(status_hex[2:], 16),)) + data
    if len(fields) == 4:
        size = _parse_vlq(fields[3])
        if size != len(data) - (status == META):
            raise ValueError("length field does not match the data")
        if isinstance(size, Wide):
            data = WideData(data, size.width)
    return (delta, status, data, False)


def _parse_vlq(field: str) -> int:
    value = int(field, 16)
    if not field or len(field) % 2 or value > MAX_VLQ or len(field) > 8:
        raise ValueError("bad variable-length value")
    width = len(field) // 2
    return Wide(value, width) if width > minimal_width(value) else value
