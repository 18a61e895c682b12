"""Ticks -> seconds: the tempo map of a song.

Tempo events apply to every track of a format 0 or 1 file, so they are
gathered from all tracks; in format 2 each track is its own sequence and
keeps its own map.  SMPTE divisions fix the length of a tick, and tempo
events then change nothing (SMF 1.0).  Frame rate 29 means 29.97 drop-frame.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from ..errors import MidiError
from .smf import DEFAULT_TEMPO_US, META, SET_TEMPO
from .song import Song, Track, delta_rows, timed_rows

SMPTE_FPS = {24: 24.0, 25: 25.0, 29: 29.97, 30: 30.0}


class TempoMap:
    """Converts absolute ticks to seconds for one timeline."""

    def __init__(self, song: Song, tracks: Iterable[Track] | None = None) -> None:
        if song.smpte:
            fps, ticks_per_frame = song.smpte
            if fps not in SMPTE_FPS or not ticks_per_frame:
                raise MidiError(
                    f"SMPTE division {fps} fps x {ticks_per_frame}: "
                    "times cannot be converted to seconds"
                )
            self._fixed = 1.0 / (SMPTE_FPS[fps] * ticks_per_frame)
            return
        if not song.division:
            raise MidiError("division is 0 ticks per quarter: times cannot be converted to seconds")
        self._fixed = None
        self._division = song.division
        changes = sorted(tempo_changes(song.tracks if tracks is None else tracks))
        self.ticks = [0]
        self.seconds_at = [0.0]
        self.tempi_us = [DEFAULT_TEMPO_US]
        for tick, tempo_us in changes:
            seconds = self.seconds(tick)
            if tick == self.ticks[-1]:
                self.tempi_us[-1] = tempo_us
            else:
                self.ticks.append(tick)
                self.seconds_at.append(seconds)
                self.tempi_us.append(tempo_us)

    def seconds(self, tick: int) -> float:
        if self._fixed is not None:
            return tick * self._fixed
        k = bisect_right(self.ticks, tick) - 1
        return self.seconds_at[k] + (tick - self.ticks[k]) * self.tempi_us[k] / (
            1e6 * self._division
        )


def tempo_changes(tracks: Iterable[Track]) -> list[tuple[int, int]]:
    """(absolute tick, microseconds per quarter) of every well-formed tempo event."""
    changes = []
    for track in tracks:
        tick = 0
        for delta, status, data, _ in track.rows:
            tick += delta
            if status == META and data[0] == SET_TEMPO and len(data) == 4:
                tempo_us = int.from_bytes(data[1:4], "big")
                if tempo_us:
                    changes.append((tick, tempo_us))
    return changes


def track_length_ticks(track: Track) -> int:
    return sum(row[0] for row in track.rows)


def in_quarter_notes(song: Song) -> Song:
    """The song with an SMPTE time base as ticks per quarter note at 60 bpm, the same
    ticks at the same seconds, for the readers that know only quarter notes (pretty_midi,
    the synthesizer); a song in quarter notes as it is.  Its tempo events, which change
    nothing under SMPTE, are left out, for they would here.  Drop-frame 29.97 fps is
    taken as 30: 0.1% slow, for a view."""
    if not song.smpte or not song.tracks:
        return song
    TempoMap(song)  # raises for a frame rate SMPTE does not have, or no ticks per frame
    fps, ticks_per_frame = song.smpte
    tempo = bytes((SET_TEMPO,)) + (1_000_000).to_bytes(3, "big")  # a quarter a second
    tracks = [without_tempo(track) for track in song.tracks]
    tracks[0] = Track([(0, META, tempo, False), *tracks[0].rows], tracks[0].trailing)
    return Song(format=song.format, division=round(SMPTE_FPS[fps]) * ticks_per_frame, tracks=tracks)


def without_tempo(track: Track) -> Track:
    """The track without its tempo events, every other event at its tick."""
    timed = timed_rows(track)
    kept = [row for row in timed if not (row[1] == META and row[2][:1] == bytes((SET_TEMPO,)))]
    return Track(delta_rows(kept), track.trailing)
