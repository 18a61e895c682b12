"""event tokens -> what a piece's opening is like, and per style, the spread of that.

A sampled stream should be like one piece of its style, not like the
average of them all: most folk tunes keep every note in their key and a few
borrow a tenth of them; a pop song's notes average anywhere from B3 to G4; a
quartet has four instruments and a pop song one.  So ``prepare`` measures
each training piece's opening (the half minute a listener judges first, and
views/compare.py measures), keeps the deciles of each figure per style in
``meta.json`` (``train`` copies them to ``config.json``), and the sampler
(model/sample.py) draws each stream a rank per figure and steers it towards
the piece of its style at that rank.

A stream that may not play the drum kit aims at the pieces' figures
without their drums (PITCHED), which prepare keeps beside the others.

The rate of notes is one of them only since the sampler also keeps each
style's instruments: before, the notes a stream held back went to other
instruments, and the aim lost mean OA on folk, piano and unprimed pieces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..midi.keys import key_share
from ..tokens import grammar

OPENING_SECONDS = 30.0  # what a listener judges first, and views/compare.py measures
# a style's figures are kept as its deciles, 0%, 10% .. 100%, and a rank 0..1 interpolates
# between them: the extremes too, for real pieces spread that far (cut at 5% and 95%, the
# generated spreads came out narrower than held-out pieces': mean OA lost 0.03)
QUANTILES = 11
LEVELS = np.linspace(0.0, 1.0, QUANTILES)
# the figures, and the bounds a model folder's quantiles must keep
KEY_SHARE = "key_share"  # share of the first 150 pitched notes in their best scale (0..1)
MEAN_PITCH = "mean_pitch"  # of the opening's pitched notes (0..127)
# how far the opening's lowest and highest pitched notes lie from its mean pitch: apart, for
# a pop song's bass reaches further below its mean than its melody above
REACH_BELOW = "reach_below"
REACH_ABOVE = "reach_above"
VELOCITY_BINS = "velocity_bins"  # how many of the 16 VEL bins the opening's notes play in
INSTRUMENTS = "instruments"  # how many programs play in the opening, the drum kit one more
NOTES_PER_SECOND = "notes_per_second"  # of the opening, drums included
# notes of the opening per moment one starts: 1 for a tune played alone, about 3 for a
# hymn's chords (a stream with the right rate can still play too few onsets, each too thick)
NOTES_PER_ONSET = "notes_per_onset"
# the same three of the opening's pitched notes alone, which a stream aims at when the drum
# kit may not play: the median band piece's 17 notes a second are 13 without its drums, and
# a band asked for --no-drums played its drums' share too on its other instruments
PITCHED = {
    INSTRUMENTS: "pitched_instruments",
    NOTES_PER_SECOND: "pitched_notes_per_second",
    NOTES_PER_ONSET: "pitched_notes_per_onset",
}
BOUNDS = {
    KEY_SHARE: (0.0, 1.0),
    MEAN_PITCH: (0.0, 127.0),
    REACH_BELOW: (0.0, 127.0),
    REACH_ABOVE: (0.0, 127.0),
    VELOCITY_BINS: (0.0, float(grammar.VELOCITY_BINS)),
    INSTRUMENTS: (0.0, 129.0),
    NOTES_PER_SECOND: (0.0, 1000.0),
    NOTES_PER_ONSET: (1.0, 1000.0),
    PITCHED[INSTRUMENTS]: (0.0, 128.0),
    PITCHED[NOTES_PER_SECOND]: (0.0, 1000.0),
    PITCHED[NOTES_PER_ONSET]: (1.0, 1000.0),
}
MIN_NOTES = 16  # an opening with fewer pitched notes says little about its register


@dataclass(frozen=True)
class Opening:
    """A piece's opening: its figures (those it has notes enough for), and the
    instruments that play in it (programs, and KIT for the drum kit)."""

    figures: dict[str, float] = field(default_factory=dict)
    instruments: frozenset[int] = frozenset()


def read_opening(tokens: Sequence[str]) -> Opening:
    """The opening of a piece's event tokens."""
    cursor = grammar.Cursor()
    pitches: list[int] = []  # every pitched note, in the order they start
    opening: list[tuple[int, int, int]] = []  # the opening's: (instrument, pitch, velocity)
    onsets: set[int] = set()  # the steps where the opening's notes start
    pitched_onsets: set[int] = set()  # and its pitched notes
    for token in tokens:
        if cursor.feed_token(token) or not token.startswith(("NOTE_", "DRUM_", "VEL_")):
            continue
        note = cursor.note
        if not token.startswith("VEL_"):
            if note.instrument != grammar.DRUMS:
                pitches.append(note.pitch)
        elif cursor.seconds < OPENING_SECONDS:  # a note's velocity comes with its VEL
            opening.append((note.instrument, note.pitch, note.velocity))
            onsets.add(cursor.step)
            if note.instrument != grammar.DRUMS:
                pitched_onsets.add(cursor.step)
    figures = {}
    share = key_share(pitches)
    if share is not None:
        figures[KEY_SHARE] = share
    pitched_notes = [note for note in opening if note[0] != grammar.DRUMS]
    pitched = [pitch for _, pitch, _ in pitched_notes]
    if len(pitched) >= MIN_NOTES:
        mean = float(np.mean(pitched))
        figures[MEAN_PITCH] = mean
        figures[REACH_BELOW] = mean - min(pitched)
        figures[REACH_ABOVE] = max(pitched) - mean
        figures[VELOCITY_BINS] = float(len({velocity for _, _, velocity in opening}))
        seconds = max(min(cursor.seconds, OPENING_SECONDS), 1.0)
        figures.update(_ensemble(opening, onsets, seconds))
        for figure, value in _ensemble(pitched_notes, pitched_onsets, seconds).items():
            figures[PITCHED[figure]] = value
    return Opening(figures, frozenset(instrument for instrument, _, _ in opening))


def _ensemble(
    notes: list[tuple[int, int, int]], onsets: set[int], seconds: float
) -> dict[str, float]:
    """How many instruments play ``notes`` (instrument, pitch, velocity), how many of
    them a second, and how many start together."""
    return {
        INSTRUMENTS: float(len({instrument for instrument, _, _ in notes})),
        NOTES_PER_SECOND: len(notes) / seconds,
        NOTES_PER_ONSET: len(notes) / len(onsets),
    }


def style_quantiles(
    pieces: Iterable[tuple[str | None, Opening]],
) -> dict[str, dict[str, list[float]]]:
    """{figure: {style ("" for none): its QUANTILES at LEVELS}} of (style, opening) pairs."""
    values: dict[str, dict[str, list[float]]] = {}
    for style, opening in pieces:
        for name, value in opening.figures.items():
            values.setdefault(name, {}).setdefault(style or "", []).append(value)
    return {
        name: {
            style: [round(float(q), 4) for q in np.quantile(found, LEVELS)]
            for style, found in sorted(by_style.items())
        }
        for name, by_style in sorted(values.items())
    }


def style_instruments(pieces: Iterable[tuple[str | None, Opening]]) -> dict[str, dict[str, float]]:
    """{style ("" for none): {instrument: the share of its pieces whose opening it plays
    in}} of (style, opening) pairs; an instrument is a program 0..127, or 128 (KIT) for
    the drum kit, written as a string (JSON keys are)."""
    counts: dict[str, Counter[int]] = {}
    pieces_of: Counter[str] = Counter()
    for style, opening in pieces:
        if opening.figures:  # an opening with notes enough to say
            pieces_of[style or ""] += 1
            counts.setdefault(style or "", Counter()).update(opening.instruments)
    return {
        style: {
            str(instrument): round(count / pieces_of[style], 4)
            for instrument, count in sorted(counts[style].items())
        }
        for style in sorted(counts)
    }
