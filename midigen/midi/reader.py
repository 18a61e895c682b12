"""bytes -> Song: chunks, running status, sysex packets, RMID, unknown chunks.

The reader follows the SMF 1.0 grammar and keeps every byte a well-formed
file holds, so that writer.py can reproduce it exactly.  Defects are reported
through ``_Reader.warn``: a strict read raises the first one, a tolerant read
repairs it the way ../shared/corpus/MANIFEST.json's ``tolerant`` field asks,
keeps a MidiError describing it in ``Song.warnings`` and goes on.  No length
field is trusted before it is checked against the bytes that remain, so a
file that declares 256 MiB allocates nothing of the sort.
"""

from __future__ import annotations

import gc
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MidiError, NotMidiError, UntimedError, count
from ..fileio import read_regular
from .smf import CHANNEL_DATA_LENGTH, END_OF_TRACK, META, META_LENGTHS, meta_defect
from .song import Chunk, Riff, Song, Track
from .vlq import MAX_VLQ, MAX_WIDTH, Wide, WideData

if TYPE_CHECKING:
    import mido

MAX_FILE_BYTES = 256 * 2**20  # far above any real MIDI file (the largest are a few MB)
LEADING_JUNK_LIMIT = 1024  # MacBinary headers are 128 bytes; look a little further
SMPTE_RATES = (24, 25, 29, 30)
# Bytes that follow a system common / real-time status found inside a track.
SYSTEM_DATA_LENGTH = {0xF1: 1, 0xF2: 2, 0xF3: 1}


class _StopTrack(Exception):
    """Internal: the rest of this track cannot be decoded; keep what came before."""


def read(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview | mido.MidiFile,
    *,
    strict: bool = False,
) -> Song:
    """Read a Standard MIDI File (or RIFF RMID) from a path, from bytes, or from a
    mido.MidiFile (the Song of the bytes mido would write).

    Raises:
        NotMidiError: the input is not a MIDI file at all.
        MidiError: the file is damaged beyond repair, or ``strict`` is set and
            it has any defect; the message names file, track and byte offset.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _read_bytes(bytes(source), strict)
    if hasattr(source, "tracks") and hasattr(source, "save"):  # a mido.MidiFile
        from .interop import mido_to_smf

        return _read_bytes(mido_to_smf(source), strict)
    path = Path(source)
    data = read_regular(path, MAX_FILE_BYTES)
    try:
        song = _read_bytes(data, strict)
    except MidiError as error:
        raise error.with_path(path) from None
    for warning in song.warnings:
        warning.with_path(path)
    return song


def _read_bytes(data: bytes, strict: bool) -> Song:
    """Parse with the cyclic garbage collector paused.

    The reader makes one tuple per event and no reference cycles; letting the
    collector scan those tuples as they pile up costs about 12% of read time
    (scripts/bench_codec.py).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Reader(data, strict).song()
    finally:
        if collecting:
            gc.enable()


class _Reader:
    def __init__(self, data: bytes, strict: bool) -> None:
        self.data = data
        self.strict = strict
        self.warnings: list[MidiError] = []
        self.track: int | None = None

    def warn(self, what: str, offset: int, error: type[MidiError] = MidiError) -> None:
        """Report a defect: raise it when strict, else record it and let the caller repair."""
        problem = error(what, track=self.track, offset=offset)
        if self.strict:
            raise problem
        self.warnings.append(problem)

    def fail(self, what: str, offset: int, error: type[MidiError] = MidiError):
        raise error(what, track=self.track, offset=offset)

    # -- file level -------------------------------------------------------

    def song(self) -> Song:
        start, end, riff = self.find_smf()
        song = self.read_header(start, end)
        song.riff = riff
        self.read_chunks(song, start + 8 + 6 + len(song.header_extra), end)
        song.warnings = self.warnings
        return song

    def find_smf(self) -> tuple[int, int, Riff | None]:
        """Locate the SMF bytes: the whole file, inside a RIFF RMID wrapper, or after junk."""
        data = self.data
        if not data:
            self.fail("empty file", 0, NotMidiError)
        if data.startswith(b"MThd"):
            return 0, len(data), None
        if data.startswith(b"RIFF"):
            return self.unwrap_riff()
        start = data.find(b"MThd", 0, LEADING_JUNK_LIMIT)
        if start < 0:
            self.fail(
                f"not a MIDI file (starts with {data[:4]!r}, no MThd header)", 0, NotMidiError
            )
        self.warn(f"{count(start, 'byte')} of junk before the MThd header", 0, NotMidiError)
        return start, len(data), None

    def unwrap_riff(self) -> tuple[int, int, Riff]:
        """Find the SMF in a Microsoft RIFF RMID file: 'RIFF' size 'RMID' 'data' size <smf>."""
        data = self.data
        form = data[8:12]
        if form != b"RMID":
            self.fail(f"not a MIDI file (a RIFF {form.decode('latin-1')!r} file)", 8, NotMidiError)
        pos = 12
        while pos + 8 <= len(data):
            chunk_id = data[pos : pos + 4]
            (size,) = struct.unpack_from("<I", data, pos + 4)
            if chunk_id == b"data":
                start = pos + 8
                end = start + size
                if end > len(data):
                    self.warn(
                        f"RIFF data chunk declares {count(size, 'byte')}, "
                        f"{len(data) - start} remain",
                        pos + 4,
                    )
                    end = len(data)
                if not data.startswith(b"MThd", start):
                    self.fail(
                        "RIFF RMID data chunk does not hold an MThd header", start, NotMidiError
                    )
                return start, end, Riff(prefix=data[:start], suffix=data[end:])
            pos += 8 + size + (size & 1)
        self.fail("RIFF RMID file without a 'data' chunk", 12, NotMidiError)

    def read_header(self, start: int, end: int) -> Song:
        data = self.data
        if end - start < 14:
            self.fail(f"file ends inside the MThd header ({end - start} bytes)", end)
        (length,) = struct.unpack_from(">I", data, start + 4)
        if length < 6:
            self.fail(f"MThd length is {length}, needs at least 6", start + 4)
        if start + 8 + length > end:
            self.fail(f"MThd length {length} runs past the end of the file", start + 4)
        smf_format, ntracks, division = struct.unpack_from(">HHH", data, start + 8)
        song = Song(
            format=smf_format, division=division, header_extra=data[start + 14 : start + 8 + length]
        )
        self.header_start = start
        self.declared_tracks = ntracks  # checked once the chunks are read
        if smf_format > 2:
            self.warn(f"format {smf_format} does not exist; reading as format 1", start + 8)
            song.format = 1
        if division == 0:
            self.warn(
                "division is 0 ticks per quarter: times cannot be converted to seconds",
                start + 12,
                UntimedError,
            )
        elif division & 0x8000 and song.smpte[0] not in SMPTE_RATES:
            self.warn(
                f"SMPTE division with {song.smpte[0]} frames per second "
                "(only 24, 25, 29, 30 exist)",
                start + 12,
                UntimedError,
            )
        elif division & 0x8000 and not song.smpte[1]:
            self.warn(
                "SMPTE division with 0 ticks per frame: times cannot be converted to seconds",
                start + 12,
                UntimedError,
            )
        return song

    def read_chunks(self, song: Song, pos: int, end: int) -> None:
        data = self.data
        while pos < end:
            chunk_id = data[pos : pos + 4]
            if end - pos < 8 or not _looks_like_chunk_id(chunk_id):
                resync = data.find(b"MTrk", pos, end)
                if resync > pos and len(song.tracks) < self.declared_tracks:
                    self.warn(
                        f"{count(resync - pos, 'byte')} that are not a chunk before the next MTrk",
                        pos,
                    )
                    pos = resync
                    continue
                self.read_trailing(song, pos, end)
                break
            (length,) = struct.unpack_from(">I", data, pos + 4)
            if chunk_id == b"MTrk":
                self.track = len(song.tracks)
                pos = self.read_track(song, pos, length, end)
                self.track = None
            elif pos + 8 + length > end:
                self.warn(
                    f"{chunk_id.decode('latin-1')!r} chunk declares {count(length, 'byte')}, "
                    f"{end - pos - 8} remain",
                    pos + 4,
                )
                self.read_trailing(song, pos, end)
                break
            else:
                song.chunks.append(
                    Chunk(chunk_id, data[pos + 8 : pos + 8 + length], before_track=len(song.tracks))
                )
                pos += 8 + length
        self.check_track_count(song)

    def read_trailing(self, song: Song, pos: int, end: int) -> None:
        """Keep bytes after the last chunk: zero padding is legal, anything else a defect."""
        song.trailing = self.data[pos:end]
        if song.trailing.strip(b"\0"):
            self.warn(f"{count(end - pos, 'stray byte')} after the last chunk", pos)

    def check_track_count(self, song: Song) -> None:
        found, declared = len(song.tracks), self.declared_tracks
        header_offset = self.header_start + 10
        if found != declared:
            self.warn(
                f"header announces {count(declared, 'track')}, the file holds {found}",
                header_offset,
            )
        if song.format == 0 and found > 1:
            self.warn(
                f"format 0 allows one track, the file holds {found}; reading as format 1",
                header_offset - 2,
            )
            song.format = 1

    # -- tracks -----------------------------------------------------------

    def read_track(self, song: Song, pos: int, length: int, end: int) -> int:
        """Decode one MTrk chunk at ``pos``; return where the next chunk starts."""
        body = pos + 8
        chunk_end = body + length
        if chunk_end > end:
            self.warn(f"MTrk declares {count(length, 'byte')}, only {end - body} remain", pos + 4)
            # The track cannot run past the next track: reading only up to it keeps a file
            # of many truncated tracks linear instead of copying the rest of it per track.
            next_track = self.data.find(b"MTrk", body, end)
            chunk_end = end if next_track < 0 else next_track
        chunk = self.data[body:chunk_end]
        rows, stop = self.read_events(chunk, body)
        trailing = chunk[stop:]
        next_pos = chunk_end
        if trailing:
            overlap = trailing.find(b"MTrk")
            # A length that overruns into the next chunk leaves its end mid-chunk;
            # when the declared end is a chunk boundary, the bytes are padding.  The
            # end of the SMF data is one: what follows it (a RIFF chunk) is not ours,
            # nor to look at (a RIFF pad byte that a write adds or drops there changed
            # how the track read back).
            at_boundary = chunk_end >= end or _looks_like_chunk_id(
                self.data[chunk_end : min(chunk_end + 4, end)]
            )
            if overlap >= 0 and not at_boundary:
                self.warn("MTrk length overlaps the next chunk", pos + 4)
                next_pos = body + stop + overlap
                trailing = trailing[:overlap]
            if trailing:
                self.warn(f"{count(len(trailing), 'byte')} after End of Track", body + stop)
        song.tracks.append(Track._from_rows(rows, trailing))
        return next_pos

    def read_events(self, chunk: bytes, base: int) -> tuple[list[tuple], int]:
        """Decode events up to End of Track; return them and where decoding stopped.

        This loop is flattened on purpose: it is where `read` spends its time
        (scripts/bench_codec.py).  The common case, a one-byte delta and a
        channel message, takes the first branches; everything unusual leaves
        through a rarely taken branch to a helper.  Deltas are read at the end
        of each iteration so that a resynchronisation can keep the pending one.
        """
        lengths = CHANNEL_DATA_LENGTH
        rows: list[tuple] = []
        add = rows.append
        carried: list[tuple[int, int]] = []  # (row index, ticks) of skipped messages
        n = len(chunk)
        i = 0
        status = 0  # running status; 0 = none established
        cancelled = False  # a meta or sysex event came after the last channel status
        ended = False
        try:
            if n == 0:
                raise _StopTrack
            delta = chunk[0]
            i = 1
            if delta >= 0x80:
                delta, i = self.long_vlq(chunk, i, delta, base)
            while True:
                byte = chunk[i]
                if byte < 0x80:  # running status
                    if cancelled or not status:
                        i = self.bad_running_status(chunk, i, base, status)
                        cancelled = False
                        if not status:
                            continue
                    k = lengths[status]
                    payload = chunk[i : i + k]
                    if not payload.isascii():
                        i = self.resync(chunk, i, base)
                        continue
                    add((delta, status, payload, True))
                    i += k
                elif byte < 0xF0:
                    i += 1
                    status = byte
                    cancelled = False
                    k = lengths[byte]
                    payload = chunk[i : i + k]
                    if not payload.isascii():
                        i = self.resync(chunk, i, base)
                        continue
                    add((delta, byte, payload, False))
                    i += k
                elif byte == META:
                    meta_type = chunk[i + 1]
                    size, i = self.length(chunk, i + 2, base)
                    payload = chunk[i : i + size]
                    if size > n - i:
                        raise _Truncated(
                            f"meta event declares {count(size, 'byte')}, {n - i} remain", base + i
                        )
                    if meta_type in META_LENGTHS:
                        self.check_meta(meta_type, payload, base + i)
                    payload = bytes((meta_type,)) + payload
                    add((delta, META, _with_width(payload, size), False))
                    i += size
                    cancelled = True
                    if meta_type == END_OF_TRACK:
                        ended = True
                        break
                elif byte == 0xF0 or byte == 0xF7:
                    size, i = self.length(chunk, i + 1, base)
                    if size > n - i:
                        raise _Truncated(
                            f"sysex declares {count(size, 'byte')}, {n - i} remain", base + i
                        )
                    add((delta, byte, _with_width(chunk[i : i + size], size), False))
                    i += size
                    cancelled = True
                else:
                    i = self.skip_system_message(chunk, i, base)
                    carried.append((len(rows), delta))
                if i >= n:
                    break
                delta = chunk[i]
                i += 1
                if delta >= 0x80:
                    low = chunk[i]
                    if low < 0x80 and delta != 0x80:  # two-byte delta, 11% of events
                        delta = (delta & 0x7F) << 7 | low
                        i += 1
                    else:
                        delta, i = self.long_vlq(chunk, i, delta, base)
            if i > n:  # the last channel message was cut by the end of the chunk
                rows.pop()
                raise _Truncated("track ends inside an event", base + n)
        except IndexError:
            self.warn("track ends inside an event", base + n)
            i = n
        except _Truncated as cut:
            self.warn(cut.what, cut.offset)
            i = n
        except _StopTrack:
            i = n
        if not ended:
            self.warn("track has no End of Track event", base + i)
        for index, ticks in carried:
            if index < len(rows):
                row = rows[index]
                rows[index] = (min(row[0] + ticks, MAX_VLQ), *row[1:])
        return rows, min(i, n)

    def long_vlq(self, chunk: bytes, i: int, first: int, base: int) -> tuple[int, int]:
        """Finish a delta time whose first byte had the continuation bit set."""
        value = first & 0x7F
        width = 1
        while True:
            byte = chunk[i]
            i += 1
            width += 1
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
            if width == MAX_WIDTH:
                self.warn("variable-length quantity longer than 4 bytes", base + i - width)
                raise _StopTrack
        return (Wide(value, width) if first == 0x80 else value), i

    def length(self, chunk: bytes, i: int, base: int) -> tuple[int, int]:
        """Read the VLQ length of a meta or sysex event; remember non-minimal widths."""
        first = chunk[i]
        i += 1
        if first < 0x80:
            return first, i
        return self.long_vlq(chunk, i, first, base)

    def check_meta(self, meta_type: int, payload: bytes, offset: int) -> None:
        """Flag meta events that break their layout or range (kept verbatim anyway)."""
        if defect := meta_defect(bytes((meta_type,)) + payload):
            self.warn(defect, offset)

    def bad_running_status(self, chunk: bytes, i: int, base: int, status: int) -> int:
        """Data bytes where a status byte belongs: reuse the last status, or skip to one."""
        if status:
            self.warn("running status after a meta or sysex event (which cancel it)", base + i)
            return i
        self.warn("data byte without a status byte", base + i)
        return self.resync(chunk, i, base, warn=False)

    def resync(self, chunk: bytes, i: int, base: int, warn: bool = True) -> int:
        """Drop a broken channel message and continue at the next status byte."""
        j = i
        while chunk[j] < 0x80:  # IndexError at the chunk end ends the track
            j += 1
        if warn:
            self.warn(f"status byte {chunk[j]:02X} where a data byte belongs", base + j)
        return j

    def skip_system_message(self, chunk: bytes, i: int, base: int) -> int:
        """System common and real-time bytes have no place in a track; skip them."""
        byte = chunk[i]
        self.warn(f"system message {byte:02X} inside a track", base + i)
        return min(i + 1 + SYSTEM_DATA_LENGTH.get(byte, 0), len(chunk))


class _Truncated(Exception):
    def __init__(self, what: str, offset: int) -> None:
        self.what = what
        self.offset = offset


def _with_width(payload: bytes, size: int) -> bytes:
    """Wrap the payload as WideData when its length field used a non-minimal VLQ."""
    return WideData(payload, size.width) if type(size) is Wide else payload


def _looks_like_chunk_id(chunk_id: bytes) -> bool:
    """Chunk ids are four printable ASCII characters (SMF 1.0 / IFF)."""
    return len(chunk_id) == 4 and all(0x20 <= b < 0x7F for b in chunk_id)
