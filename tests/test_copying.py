"""views/copying.py: the memorisation meter finds copied runs, transposed ones too."""

from __future__ import annotations

import random
from pathlib import Path

from click.testing import CliRunner

from midigen.cli import main
from midigen.views.copying import RUN_NOTES, copying, corpus_runs, run_hashes
from midigen.views.notes import Note

DATA = Path(__file__).parent / "data"


def melody(pitches: list[int], start: float = 0.0, step: float = 0.25) -> list[Note]:
    return [
        Note(start + k * step, start + (k + 1) * step, p, 80, "Piano", False)
        for k, p in enumerate(pitches)
    ]


def test_a_transposed_copy_is_found_and_a_new_tune_is_not():
    rng = random.Random(3)
    tune = [rng.randrange(48, 84) for _ in range(60)]
    corpus = corpus_runs([melody(tune)])
    copied = melody([p + 5 for p in tune[10:40]], start=7.0)  # 30 notes, a fourth up
    fresh = melody([rng.randrange(48, 84) for _ in range(40)])
    result = copying([copied, fresh], corpus)
    assert result.longest_per_piece == [30, 0]
    assert result.copied_share == (30 - RUN_NOTES + 1) / ((30 - 15) + (40 - 15))


def test_drums_and_short_pieces_have_no_runs():
    drums = [Note(k * 0.1, k * 0.1 + 0.05, 36, 90, "Drums", True) for k in range(100)]
    assert len(run_hashes(drums)) == 0 and len(run_hashes(melody([60] * 10))) == 0


def test_compare_reports_copying_from_the_training_files():
    result = CliRunner().invoke(
        main,
        ["compare", str(DATA / "pymidi_mary.mid"), "--reference", str(DATA), "--train", str(DATA)],
    )
    # every file of the test data is read, its SMPTE one too (it was left out on both sides)
    assert result.exit_code == 0, result.output
    assert "left out" not in result.stderr
    assert "copied from the training files (16-note runs): generated 100.0%" in result.stdout
