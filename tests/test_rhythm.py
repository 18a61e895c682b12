"""views/rhythm.py: onsets against each piece's own pulse, the written grid, tempo changes."""

from __future__ import annotations

import random

import pytest

import midigen
from midigen.tokens.grammar import tempo_tokens
from midigen.views.rhythm import rhythm


def piece(lead_in_steps: int, shifts: list[int], tempi: list[int] = ()) -> midigen.Song:
    tokens = ["EVENT_24", "TIMESIG_4_4"]
    if lead_in_steps:
        tokens.append(f"SHIFT_{lead_in_steps}")
    for index, shift in enumerate(shifts):
        tokens += ["NOTE_60", "VEL_8", "DUR_6", f"SHIFT_{shift}"]
        if index < len(tempi):
            tokens += tempo_tokens(tempi[index])
    return midigen.detokenize(tokens)


def test_eighths_on_the_written_grid():
    measured = rhythm(piece(0, [12] * 40).to_pretty_midi())
    assert measured.on_eighths == 1.0 and measured.on_grid == 1.0
    assert measured.on_beats == pytest.approx(0.5)
    assert measured.tempo_changes_per_minute == 0.0


def test_a_piece_shifted_off_the_grid_keeps_its_own_pulse():
    measured = rhythm(piece(6, [12] * 40).to_pretty_midi())  # every onset a 16th late
    assert measured.on_eighths == 1.0  # against its own pulse nothing is off
    assert measured.on_grid == 0.0  # but none of it sits on the written grid


def test_onsets_off_any_pulse_count_against_it():
    rng = random.Random(5)
    measured = rhythm(piece(0, [rng.randrange(1, 24) for _ in range(60)]).to_pretty_midi())
    assert measured.on_eighths < 0.5


def test_tempo_changes_per_minute():
    midi = piece(0, [24] * 40, tempi=[400_000, 500_000, 400_000]).to_pretty_midi()
    last_onset = max(n.start for i in midi.instruments for n in i.notes)
    assert rhythm(midi).tempo_changes_per_minute == pytest.approx(3 / (last_onset / 60))
