"""pieces + training corpus -> how much of each piece is copied from the corpus.

A model trained on a small corpus can copy it, and copies score well on
every statistic compare.py measures.  So this meter looks for runs of
RUN_NOTES consecutive pitched notes that also occur in the training files,
note for note: the same pitch intervals (so a transposed copy counts) and
the same spacing of onsets (in 20 ms steps).  It reports, per set of
pieces, the share of runs found in the corpus and the longest copied run;
real pieces the model did not train on give the level to compare with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .notes import Note

RUN_NOTES = 16
ONSET_STEP_SECONDS = 0.02
_PRIME = np.uint64(1_000_003)


def run_hashes(notes: list[Note]) -> np.ndarray:
    """One 64-bit hash per run of RUN_NOTES consecutive pitched notes, in order."""
    pitched = sorted((n.start, n.pitch) for n in notes if not n.is_drum)
    if len(pitched) < RUN_NOTES:
        return np.zeros(0, np.uint64)
    starts = np.array([start for start, _ in pitched])
    pitches = np.array([pitch for _, pitch in pitched], np.int64)
    intervals = np.diff(pitches) + 128  # 1..255
    spacing = np.minimum(np.round(np.diff(starts) / ONSET_STEP_SECONDS), 2**20).astype(np.int64)
    steps = (intervals << 21 | spacing).astype(np.uint64)  # one number per pair of notes
    width = RUN_NOTES - 1
    hashes = np.zeros(len(steps) - width + 1, np.uint64)
    with np.errstate(over="ignore"):  # wrapping multiplication is the hash
        for offset in range(width):
            hashes = hashes * _PRIME + steps[offset : offset + len(hashes)]
    return hashes


def corpus_runs(pieces: Iterable[list[Note]]) -> np.ndarray:
    """Every run hash of a corpus, sorted and unique, to look pieces up in."""
    every = [run_hashes(notes) for notes in pieces]
    return np.unique(np.concatenate(every)) if every else np.zeros(0, np.uint64)


@dataclass
class Copying:
    """How much of a set of pieces is found in a training corpus."""

    copied_share: float  # runs found in the corpus / runs, over all pieces
    longest_run: int  # the longest copied stretch of notes in any piece
    longest_per_piece: list[int]

    def to_dict(self) -> dict:
        return {
            "copied_share": self.copied_share,
            "longest_copied_notes": self.longest_run,
            "longest_copied_notes_per_piece": self.longest_per_piece,
        }


def copying(pieces: list[list[Note]], corpus: np.ndarray) -> Copying:
    """The share of the pieces' runs found in ``corpus`` (from corpus_runs), and the longest."""
    found = total = 0
    longest = []
    for notes in pieces:
        hashes = run_hashes(notes)
        hits = np.isin(hashes, corpus)
        found += int(hits.sum())
        total += len(hashes)
        longest.append(_longest_stretch(hits))
    return Copying(found / total if total else 0.0, max(longest, default=0), longest)


def _longest_stretch(hits: np.ndarray) -> int:
    """Notes in the longest stretch of overlapping copied runs (0 when none is copied)."""
    best = current = 0
    for hit in hits:
        current = current + 1 if hit else 0
        best = max(best, current)
    return best + RUN_NOTES - 1 if best else 0
