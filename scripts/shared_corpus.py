"""Where the scripts find the shared corpus: $MIDIGEN_SHARED_CORPUS, else ../shared/corpus.

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
