"""Song -> notes in seconds: what the piano roll, compare and summaries measure.

One reading of a song's notes for every view, so that a picture, a WAV and
a statistic never disagree about where a note starts or ends: pretty_midi's
(note-ons paired with note-offs per channel and key, tempo map applied), with
the tempo of every track, as players and the event tokens take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..midi.gm import program_name
from ..midi.song import Song
from ..midi.timing import conductor_in_first_track, in_quarter_notes

if TYPE_CHECKING:
    import pretty_midi


@dataclass(frozen=True)
class Note:
    start: float
    end: float
    pitch: int
    velocity: int
    instrument: str
    is_drum: bool


def song_notes(song: Song) -> list[Note]:
    """Every note in seconds (pretty_midi's reading of the song)."""
    return midi_notes(pretty(song))


def pretty(song: Song) -> pretty_midi.PrettyMIDI:
    """pretty_midi's reading of the song as players hear it: with the tempo and meter
    of every track that rules them, where pretty_midi alone reads the first track's
    (``conductor_in_first_track``), and an SMPTE time base in quarter notes, which
    pretty_midi alone refuses (``in_quarter_notes``).

    Raises:
        MidiError: a division of 0, a song of no tracks, or one pretty_midi cannot read.
    """
    return in_quarter_notes(conductor_in_first_track(song)).to_pretty_midi()


def midi_notes(midi: pretty_midi.PrettyMIDI) -> list[Note]:
    """Every note of a song pretty_midi has read, in seconds, by start and pitch."""
    notes = []
    for instrument in midi.instruments:
        name = "Drums" if instrument.is_drum else program_name(instrument.program)
        notes += [
            Note(n.start, n.end, n.pitch, n.velocity, name, instrument.is_drum)
            for n in instrument.notes
        ]
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes
