"""Song, Track, Event: a Standard MIDI File in memory, with no I/O.

A Song keeps everything needed to write its file back byte for byte: the
header's extra bytes, unknown chunks and where they sat, bytes after the last
chunk, a RIFF RMID wrapper, and per event whether the status byte was omitted
(running status) and whether a VLQ was written wider than needed (see vlq.py).
Edits are safe: a new or changed event is written canonically, because the
layout hints travel with the values they describe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple, overload

from ..errors import MidiError
from .smf import CHANNEL_DATA_LENGTH, END_OF_TRACK, ESCAPE, META, SYSEX, TRACK_NAME

if TYPE_CHECKING:
    import mido
    import pretty_midi


class Event(NamedTuple):
    """One track event.

    ``status`` is the status byte: 0x80-0xEF channel messages (``data`` holds
    their one or two data bytes), 0xFF meta (``data[0]`` is the meta type, the
    rest its payload), 0xF0/0xF7 sysex packets (``data`` is the payload after
    the length).  ``running`` is True when the file omitted the status byte.
    """

    delta: int
    status: int
    data: bytes
    running: bool = False

    @property
    def is_meta(self) -> bool:
        return self.status == META

    @property
    def meta_type(self) -> int | None:
        return self.data[0] if self.status == META else None

    @property
    def channel(self) -> int | None:
        return self.status & 0x0F if self.status < 0xF0 else None

    @property
    def is_note_on(self) -> bool:
        return is_note_on(self.status, self.data)

    @property
    def is_note_off(self) -> bool:
        kind = self.status & 0xF0
        return kind == 0x80 or (kind == 0x90 and self.data[1] == 0)


_as_event = tuple.__new__


class Track(MutableSequence[Event]):
    """The events of one MTrk chunk, in file order, plus bytes after End of Track.

    Events are stored as plain tuples, which the reader can build several
    times faster than NamedTuple instances (measured by scripts/bench_codec.py);
    indexing and iteration hand out ``Event`` objects with the same fields.
    """

    __slots__ = ("_rows", "trailing")

    def __init__(self, events: Iterable[tuple] = (), trailing: bytes = b"") -> None:
        self._rows: list[tuple] = [_check_event(event) for event in events]
        self.trailing = trailing  # bytes between End of Track and the chunk end

    @classmethod
    def _from_rows(cls, rows: list[tuple], trailing: bytes = b"") -> Track:
        track = cls.__new__(cls)
        track._rows = rows
        track.trailing = trailing
        return track

    @property
    def rows(self) -> list[tuple]:
        """The raw ``(delta, status, data, running)`` tuples, for fast loops."""
        return self._rows

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [_as_event(Event, row) for row in self._rows[index]]
        return _as_event(Event, self._rows[index])

    def __setitem__(self, index, value) -> None:
        if isinstance(index, slice):
            self._rows[index] = [_check_event(v) for v in value]
        else:
            self._rows[index] = _check_event(value)

    def __delitem__(self, index) -> None:
        del self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Event]:
        return map(_as_event, repeat(Event), self._rows)

    def insert(self, index: int, value: tuple) -> None:
        self._rows.insert(index, _check_event(value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Track):
            return NotImplemented
        return self._rows == other._rows and self.trailing == other.trailing

    def __repr__(self) -> str:
        return f"Track({len(self._rows)} events)"

    @property
    def name(self) -> str | None:
        """The first track-name meta event (type 0x03), decoded as Latin-1."""
        for _, status, data, _ in self._rows:
            if status == META and data[:1] == bytes((TRACK_NAME,)):
                return data[1:].decode("latin-1")
        return None


MAX_DELTA = 0x0FFFFFFF  # the longest delta time a file can hold (a 4-byte VLQ)


def is_note_on(status: int, data: bytes) -> bool:
    """Whether a channel event (its status and data) strikes a note: velocity 0 ends one."""
    return status < 0xF0 and status & 0xF0 == 0x90 and data[1] > 0


def with_meta_at_start(track: Track, data: bytes) -> Track:
    """The track with a meta event of ``data`` (its type, then its payload) at tick 0,
    after the track's meta events there (its name first) and before its End of Track."""
    rows = track.rows
    at = next(
        (k for k, row in enumerate(rows) if row[0] or row[1] != META or is_end_of_track(row)),
        len(rows),
    )
    return Track([*rows[:at], (0, META, data, False), *rows[at:]], track.trailing)


def format_with_tracks(smf_format: int, tracks: int) -> int:
    """The format of an edited song of ``tracks`` tracks: a format 0 file holds one track,
    so with more (an instrument added in a new one) it is format 1."""
    return smf_format if smf_format != 0 or tracks == 1 else 1


def is_end_of_track(row: tuple) -> bool:
    """Whether a track row, (delta or tick, status, data, running), is End of Track."""
    return row[1] == META and row[2][:1] == bytes((END_OF_TRACK,))


def timed_rows(track: Track) -> list[tuple[int, int, bytes, bool]]:
    """The track's rows at absolute ticks, (tick, status, data, running): what delta_rows
    turns back into rows."""
    timed, now = [], 0
    for delta, status, data, running in track.rows:
        now += delta
        timed.append((now, status, data, running))
    return timed


def delta_rows(timed: Iterable[tuple[int, int, bytes, bool]]) -> list[tuple]:
    """Events at absolute ticks, (tick, status, data, running) in order, as track rows
    with delta times.  A wait longer than one delta time can hold goes into
    empty Text events (FF 01 00) MAX_DELTA apart: tokens may ask for any silence, and an
    edited file may join waits that were each at the limit."""
    rows: list[tuple] = []
    now = 0
    for tick, status, data, running in timed:
        delta, now = tick - now, tick
        while delta > MAX_DELTA:
            rows.append((MAX_DELTA, META, b"\x01", False))
            delta -= MAX_DELTA
        rows.append((delta, status, data, running))
    return rows


def _check_event(value: tuple) -> tuple:
    """Validate an event a user adds, so the writer never emits a broken message."""
    if len(value) == 3:
        value = (*value, False)
    if len(value) != 4:
        raise MidiError(f"an event is (delta, status, data[, running]), got {value!r}")
    delta, status, data, running = value
    if not isinstance(delta, int) or not 0 <= delta <= MAX_DELTA:
        raise MidiError(f"delta time {delta!r} is not an int in 0..0x0FFFFFFF")
    if not isinstance(data, (bytes, bytearray)):
        raise MidiError(f"event data must be bytes, got {type(data).__name__}")
    if 0x80 <= status < 0xF0:
        if len(data) != CHANNEL_DATA_LENGTH[status] or any(b >= 0x80 for b in data):
            raise MidiError(
                f"status {status:02X} needs {CHANNEL_DATA_LENGTH[status]} data bytes below 0x80,"
                f" got {bytes(data).hex(' ').upper() or 'none'}"
            )
    elif status == META:
        if not data:
            raise MidiError("a meta event needs its type as the first data byte")
    elif status not in (SYSEX, ESCAPE):
        raise MidiError(f"status {status:#04x} cannot be stored in a MIDI file track")
    return (delta, status, bytes(data) if isinstance(data, bytearray) else data, bool(running))


@dataclass
class Chunk:
    """A chunk midigen does not interpret, kept verbatim; ``before_track`` is its position."""

    id: bytes
    data: bytes
    before_track: int


@dataclass
class Riff:
    """The RIFF RMID wrapper: bytes before the SMF data and after it.

    The writer patches the RIFF size and the ``data`` chunk size when the SMF
    inside changes length, so an unchanged song gives back the same bytes.
    """

    prefix: bytes
    suffix: bytes


@dataclass
class Song:
    """A whole MIDI file: header fields, tracks, and what else the file held.

    ``division`` is the raw header field: ticks per quarter note when its high
    bit is clear, otherwise an SMPTE frame rate and ticks per frame.
    """

    format: int = 1
    division: int = 480
    tracks: list[Track] = field(default_factory=list)
    header_extra: bytes = b""
    chunks: list[Chunk] = field(default_factory=list)
    trailing: bytes = b""
    riff: Riff | None = None
    warnings: list[MidiError] = field(default_factory=list, compare=False)

    @property
    def ticks_per_beat(self) -> int | None:
        """Ticks per quarter note, or None for SMPTE divisions."""
        return None if self.division & 0x8000 else self.division

    @property
    def smpte(self) -> tuple[int, int] | None:
        """(frames per second, ticks per frame) for SMPTE divisions, else None."""
        if not self.division & 0x8000:
            return None
        return 256 - (self.division >> 8), self.division & 0xFF

    def to_mido(self) -> mido.MidiFile:
        """A mido.MidiFile with the same tracks and messages; see interop.py (mido back to a
        Song: ``midigen.read(midi_file)``)."""
        from .interop import song_to_mido

        return song_to_mido(self)

    def to_pretty_midi(self) -> pretty_midi.PrettyMIDI:
        """Notes, instruments, tempi and signatures as pretty_midi sees them; see interop.py."""
        from .interop import song_to_pretty_midi

        return song_to_pretty_midi(self)


def expect_song(value: object, taker: str) -> None:
    """A TypeError that says how to get a Song, for an API call handed something else
    (a file name, say): an AttributeError deep inside helps no one."""
    if not isinstance(value, Song):
        raise TypeError(
            f"{taker} takes a Song (midigen.read(path) reads one), not {type(value).__name__}"
        )
