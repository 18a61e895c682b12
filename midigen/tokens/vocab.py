"""tokens <-> ids: the vocabulary of a dataset or model, saved as vocab.json.

Ids 0..2 are the specials: ``<pad>`` (never trained on), ``<unk>`` (a token
the vocabulary lacks) and ``<eos>`` (the end of a piece, or of a line of
word text).  The event scheme's vocabulary is fixed (tokens/event.py), so a
model can produce every event token whatever its training data held; chunk
tokens and word text get a vocabulary counted from the training split.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MidiError

if TYPE_CHECKING:
    import numpy as np

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = (PAD, UNK, EOS)
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2


class Vocab:
    """A list of tokens; a token's id is its position."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens = list(tokens)
        if tuple(self.tokens[:3]) != SPECIALS:
            raise MidiError(f"a vocabulary starts with {', '.join(SPECIALS)}")
        self.ids = {token: index for index, token in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            raise MidiError("a vocabulary lists a token twice")

    @classmethod
    def fixed(cls, tokens: Iterable[str]) -> Vocab:
        return cls([*SPECIALS, *tokens])

    @classmethod
    def counted(cls, counts: Counter[str], min_count: int = 1) -> Vocab:
        """Tokens seen at least ``min_count`` times, most frequent first (ties by name)."""
        kept = sorted(
            (t for t, n in counts.items() if n >= min_count and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def dtype(self) -> np.dtype:
        import numpy as np  # here, so that token text needs no numpy (`midigen info` stays fast)

        return np.dtype(np.uint16 if len(self.tokens) <= 1 << 16 else np.uint32)

    def tokens_to_ids(self, tokens: Iterable[str]) -> np.ndarray:
        import numpy as np

        get = self.ids.get
        return np.fromiter((get(token, UNK_ID) for token in tokens), dtype=self.dtype)

    def ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        tokens = self.tokens
        return [tokens[i] for i in ids]

    def save(self, path: str | Path) -> None:
        from ..fileio import write_atomic

        write_atomic(path, json.dumps({"tokens": self.tokens}, ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Raises MidiError naming the file when it is missing or not a vocabulary."""
        try:
            tokens = json.loads(Path(path).read_text(encoding="utf-8"))["tokens"]
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise TypeError("tokens is not a list of strings")
            return cls(tokens)
        except MidiError as error:
            raise error.with_path(path) from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise MidiError(f"not a vocabulary file: {error}", path=path) from None
