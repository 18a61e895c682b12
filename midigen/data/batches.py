"""ids -> (x, y) windows for stateful truncated BPTT.

Pieces are laid out in ``columns`` parallel streams (the batch), the way
pytorch/examples' batchify does, except that every piece starts at a window
boundary::

    column 0: [piece 3 ......][piece 0 ...   pad][piece 5 ......... ]
    column 1: [piece 1 ...........   pad][piece 4 ....][piece 2 ...  ]
               |window|window|window|window|window|window|window|...

A window is ``bptt`` steps of every column.  The hidden state of a column is
carried from one window to the next and zeroed where a new piece begins, so
no piece sees another's past.  Targets are the next token; the last token of
a piece (``<eos>``) and the padding have the target ``<pad>``, which the loss
ignores.  Pieces go to the emptiest column, in an order shuffled per epoch
from the seed, so a run is reproducible and a resumed run sees the same data.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..tokens.vocab import PAD_ID

if TYPE_CHECKING:
    import torch


@dataclass
class Epoch:
    """One epoch laid out: inputs, targets and piece starts, per column and window."""

    inputs: np.ndarray  # (columns, windows * bptt)
    targets: np.ndarray  # (columns, windows * bptt)
    starts: np.ndarray  # (columns, windows) True where a piece begins
    bptt: int

    @property
    def windows(self) -> int:
        return self.starts.shape[1]

    def window(self, index: int, columns: slice = slice(None)) -> tuple[torch.Tensor, ...]:
        """(x, y, keep): int64 tensors (columns, bptt) and which states carry over."""
        import torch

        span = slice(index * self.bptt, (index + 1) * self.bptt)
        x = torch.from_numpy(self.inputs[columns, span].astype(np.int64))
        y = torch.from_numpy(self.targets[columns, span].astype(np.int64))
        keep = torch.from_numpy(~self.starts[columns, index])
        return x, y, keep


def lay_out(
    ids: np.ndarray, pieces: np.ndarray, columns: int, bptt: int, seed: int | None, epoch: int = 0
) -> Epoch:
    """Lay the pieces out in columns; ``seed`` None keeps their order (for evaluation)."""
    order = np.arange(len(pieces))
    if seed is not None:
        np.random.default_rng([seed, epoch]).shuffle(order)
    lengths = pieces[:, 1]
    windows_of = -(-lengths // bptt)  # ceil
    placements: list[list[int]] = [[] for _ in range(columns)]
    heap = [(0, column) for column in range(columns)]
    for piece in order:
        used, column = heapq.heappop(heap)
        placements[column].append(piece)
        heapq.heappush(heap, (used + int(windows_of[piece]), column))
    windows = max(used for used, _ in heap) if len(pieces) else 0
    inputs = np.full((columns, windows * bptt), PAD_ID, dtype=ids.dtype)
    targets = np.full((columns, windows * bptt), PAD_ID, dtype=ids.dtype)
    starts = np.zeros((columns, windows), dtype=bool)
    for column, placed in enumerate(placements):
        position = 0
        for piece in placed:
            offset, length = int(pieces[piece, 0]), int(lengths[piece])
            if not length:  # an empty text file: nothing to lay out, and no window of its own
                continue
            tokens = ids[offset : offset + length]
            inputs[column, position : position + length] = tokens
            targets[column, position : position + length - 1] = tokens[1:]
            starts[column, position // bptt] = True
            position += int(windows_of[piece]) * bptt
    return Epoch(inputs, targets, starts, bptt)
