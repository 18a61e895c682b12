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

Notes per second are not among them: aimed at a drawn rate, the sampler
handed the notes it held back to rests and other instruments, and lost mean
OA on folk, piano and unprimed pieces (0.016-0.036) for 0.014 on pop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..midi.keys import key_share
from ..midi.smf import DEFAULT_TEMPO_US
from ..tokens import grammar

OPENING_SECONDS = 30.0  # as views/compare.py measures a piece
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
BOUNDS = {
    KEY_SHARE: (0.0, 1.0),
    MEAN_PITCH: (0.0, 127.0),
    REACH_BELOW: (0.0, 127.0),
    REACH_ABOVE: (0.0, 127.0),
    VELOCITY_BINS: (0.0, float(grammar.VELOCITY_BINS)),
    INSTRUMENTS: (0.0, 129.0),
}
MIN_NOTES = 16  # an opening with fewer pitched notes says little about its register


def opening_figures(tokens: Sequence[str]) -> dict[str, float]:
    """The figures of a piece's event tokens that it has enough notes for (none of an
    empty piece)."""
    score = grammar.Score()
    grammar.walk(list(tokens), score)
    pitched = [note for note in score.notes if note.instrument != grammar.DRUMS]
    figures = {}
    share = key_share([note.pitch for note in pitched])
    if share is not None:
        figures[KEY_SHARE] = share
    starts = _seconds(score, [note.start for note in score.notes])
    heard = starts < OPENING_SECONDS
    opening = [
        note.pitch
        for note, kept in zip(score.notes, heard, strict=True)
        if kept and note.instrument != grammar.DRUMS
    ]
    if len(opening) >= MIN_NOTES:
        mean = float(np.mean(opening))
        figures[MEAN_PITCH] = mean
        figures[REACH_BELOW] = mean - min(opening)
        figures[REACH_ABOVE] = max(opening) - mean
        # the score decodes each bin to its middle: one velocity per bin
        played = {note.velocity for note, kept in zip(score.notes, heard, strict=True) if kept}
        figures[VELOCITY_BINS] = float(len(played))
        playing = {note.instrument for note, kept in zip(score.notes, heard, strict=True) if kept}
        figures[INSTRUMENTS] = float(len(playing))
    return figures


def _seconds(score: grammar.Score, steps: Sequence[int]) -> np.ndarray:
    """Each step's time in seconds, as the score's tempi run (a beat is 0.5 s until the
    first tempo, as in a MIDI file)."""
    changes = [(0, DEFAULT_TEMPO_US)] + [(step, tempo) for step, tempo in score.tempi if step]
    if score.tempi and score.tempi[0][0] == 0:
        changes[0] = score.tempi[0]
    at = np.array([step for step, _ in changes], float)
    per_step = np.array([tempo for _, tempo in changes], float) / 1e6 / grammar.STEPS_PER_BEAT
    elapsed = np.concatenate(([0.0], np.cumsum(np.diff(at) * per_step[:-1])))
    steps = np.asarray(steps, float)
    which = np.searchsorted(at, steps, side="right") - 1
    return elapsed[which] + (steps - at[which]) * per_step[which]


def style_quantiles(
    pieces: Iterable[tuple[str | None, Mapping[str, float]]],
) -> dict[str, dict[str, list[float]]]:
    """{figure: {style ("" for none): its QUANTILES at LEVELS}} of (style, figures) pairs."""
    values: dict[str, dict[str, list[float]]] = {}
    for style, figures in pieces:
        for name, value in figures.items():
            values.setdefault(name, {}).setdefault(style or "", []).append(value)
    return {
        name: {
            style: [round(float(q), 4) for q in np.quantile(found, LEVELS)]
            for style, found in sorted(by_style.items())
        }
        for name, by_style in sorted(values.items())
    }
