"""The error family: every failure midigen reports about a file is a MidiError.

A MidiError knows where it happened (file, track, byte offset) and renders as
``<file>: <what> (track N, byte M)``, leaving out the parts it does not know.
Tracks are numbered from 0, as in ``song.tracks[N]``; byte offsets count from
the start of the file.  The same class doubles as a warning: a tolerant read
keeps the defects it repaired as MidiError objects in ``Song.warnings``, and
a strict read raises the first one instead.
"""

from __future__ import annotations

import os


class MidiError(Exception):
    """A defect in a MIDI file, token text or model directory, with its position."""

    def __init__(
        self,
        what: str,
        *,
        path: str | os.PathLike[str] | None = None,
        track: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.path = os.fspath(path) if path is not None else None
        self.track = track
        self.offset = offset

    def with_path(self, path: str | os.PathLike[str]) -> MidiError:
        """Attach the file name once a caller knows it (the reader works on bytes); an
        error that already names its file keeps that name."""
        if self.path is None:
            self.path = os.fspath(path)
        return self

    def __str__(self) -> str:
        where = []
        if self.track is not None:
            where.append(f"track {self.track}")
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        text = f"{self.path}: {self.what}" if self.path else self.what
        return f"{text} ({', '.join(where)})" if where else text


class NotMidiError(MidiError):
    """The bytes are not a Standard MIDI File at all (empty, text, audio, random)."""


class UntimedError(MidiError):
    """A song whose ticks cannot be converted to seconds (a division of 0 ticks per
    quarter, or an SMPTE rate that does not exist): readable, but with no time to play
    in, so whatever plays, renders or continues it stops at it."""


class TokenError(MidiError):
    """Token text that cannot be turned back into a song; ``offset`` is the token index."""

    def __str__(self) -> str:
        text = f"{self.path}: {self.what}" if self.path else self.what
        return f"{text} (token {self.offset})" if self.offset is not None else text


def first_line(error: BaseException) -> str:
    """An exception's message as one line for ``error: ...``, or its type's name."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def count(number: int, noun: str) -> str:
    """``count(1, "byte")`` is "1 byte", ``count(3, "byte")`` "3 bytes": for messages."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
