"""Where the scripts find the shared corpus ($MIDIGEN_SHARED_CORPUS, else ../shared/corpus),
and which of its real files are test material rather than music.

The corpus (real/, malformed/, train/) lies beside the repository in a
checkout of the project; point the variable at it anywhere else.  The tests
read the same variable (tests/test_corpus.py).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_corpus(folder: str = "") -> Path:
    """The shared corpus folder, or one of its subfolders ("real", "malformed", "train")."""
    root = Path(os.environ.get("MIDIGEN_SHARED_CORPUS") or REPO.parent / "shared" / "corpus")
    return root / folder if folder else root


# Real files that are test material, not music: a piece weighs as much as any other in a
# style's openings and in a comparison, however short, so the piano style learned its key,
# range and density from these as much as from Debussy, and a 4-note file was one of the
# five held-out pieces it was measured against.  Any file of fewer than FEWEST_NOTES notes
# is a fragment (a chord test, a 3-note pitch-bend file; the shortest Nottingham part has
# 78 notes, "Greensleeves" 32); longer test files are named.
FEWEST_NOTES = 32
NOT_MUSIC = {
    "muspy_pitches.mid": "every MIDI pitch in turn, a test file",
    "sapp_wtc2p02-middle-c-mirror.mid": "a program's mirror image of a Bach prelude, a test file",
    "music21_test17.mid": "one of music21's MIDI test files",
    "music21_test21.mid": "one of music21's MIDI test files",
    "m2j_gm_005ElPiano2.mid": "a General MIDI sound test",
}


def not_music(name: str, notes: int) -> str | None:
    """Why the shared file ``name`` of ``notes`` notes is no piece of music, or None."""
    if name in NOT_MUSIC:
        return f"not music: {NOT_MUSIC[name]}"
    if notes < FEWEST_NOTES:
        return f"not music: a fragment of fewer than {FEWEST_NOTES} notes"
    return None
