"""Song -> how its rhythm sits on its pulse: onsets on beats and 8ths, the grid, tempo changes.

Statistics of pitch and density (compare.py) miss what a listener hears
first in generated music: notes that drift against the beat.  Each piece is
measured against its own pulse, so that a pickup or a file whose music
starts off the written grid does not count against it:

- ``on_beats`` / ``on_eighths``: the share of onsets (first 30 s) within
  1/24 of a beat of a beat or of an 8th position, at the phase of the pulse
  that fits the piece best.
- ``on_grid``: how much of that best fit the written grid keeps (1 when the
  music sits on the file's bars and beats, lower when it is shifted against
  them).
- ``tempo_changes_per_minute``: tempo events that change the tempo, per
  minute of the first 30 s.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..data.openings import OPENING_SECONDS as WINDOW_SECONDS

if TYPE_CHECKING:
    import pretty_midi


PHASES = 24  # candidate phases of the pulse, per beat
TOLERANCE_BEATS = 1 / 24  # how far from a grid position an onset may sit and still count


@dataclass(frozen=True)
class Rhythm:
    on_beats: float
    on_eighths: float
    on_grid: float
    tempo_changes_per_minute: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def rhythm(midi: pretty_midi.PrettyMIDI) -> Rhythm:
    """The rhythm statistics of one piece as pretty_midi reads it (see the module text)."""
    beats = midi.get_beats()
    onsets = np.unique(
        [round(n.start, 4) for i in midi.instruments for n in i.notes if n.start < WINDOW_SECONDS]
    )
    if len(onsets) == 0 or len(beats) < 2:
        return Rhythm(0.0, 0.0, 0.0, 0.0)
    # onset positions in beats of the file's own tempo map, then their fractional part
    positions = np.interp(onsets, beats, np.arange(len(beats)), right=np.nan)
    tail = onsets > beats[-1]
    positions[tail] = len(beats) - 1 + (onsets[tail] - beats[-1]) / (beats[-1] - beats[-2])
    eighths = [
        _share_on(positions * 2, phase / PHASES * 2, TOLERANCE_BEATS * 2) for phase in range(PHASES)
    ]
    best = int(np.argmax(eighths))  # the phase of the 8th pulse that fits best
    on_beats = max(  # the beat falls on one of that pulse's two 8ths
        _share_on(positions, (best / PHASES + half) % 1.0, TOLERANCE_BEATS) for half in (0, 0.5)
    )
    times, changes = midi.get_tempo_changes()
    window_changes = sum(
        1
        for k in range(1, len(changes))
        if times[k] < WINDOW_SECONDS and changes[k] != changes[k - 1]
    )
    length = min(WINDOW_SECONDS, max(onsets[-1], 1.0))
    return Rhythm(
        on_beats=on_beats,
        on_eighths=eighths[best],
        on_grid=eighths[0] / eighths[best] if eighths[best] else 0.0,
        tempo_changes_per_minute=float(window_changes / (length / 60)),
    )


def _share_on(positions: np.ndarray, phase: float, tolerance: float) -> float:
    """The share of positions within ``tolerance`` of a whole number once shifted by ``phase``."""
    distance = np.abs((positions - phase + 0.5) % 1.0 - 0.5)
    return float((distance <= tolerance + 1e-9).mean())


def medians(rhythms: list[Rhythm]) -> dict[str, float]:
    """Each statistic's median over a set of pieces."""
    return {
        name: statistics.median(getattr(r, name) for r in rhythms)
        for name in Rhythm.__dataclass_fields__
    }
