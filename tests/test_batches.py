"""data/batches.py: windows for stateful truncated BPTT never run one piece into another."""

from __future__ import annotations

import numpy as np
import pytest

from midigen.data.batches import lay_out
from midigen.tokens.vocab import EOS_ID, PAD_ID


def pieces_of(lengths: list[int], first_id: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Piece k holds the id first_id + k, ending with <eos>; (ids, (offset, length, notes))."""
    ids, rows, offset = [], [], 0
    for k, length in enumerate(lengths):
        ids += [first_id + k] * (length - 1) + [EOS_ID]
        rows.append((offset, length, 0))
        offset += length
    return np.array(ids, np.uint16), np.array(rows, np.int64)


@pytest.mark.parametrize(
    ("columns", "bptt", "seed"), [(1, 4, None), (3, 5, 1), (4, 7, 2), (8, 3, 3)]
)
def test_every_window_column_holds_one_piece_or_padding_after_it(columns, bptt, seed):
    lengths = [3, 17, 9, 1, 30, 12, 5, 8, 22, 2]
    ids, pieces = pieces_of(lengths)
    epoch = lay_out(ids, pieces, columns, bptt, seed=seed)
    seen: list[int] = []
    for column in range(columns):
        current = None
        for window in range(epoch.windows):
            span = slice(window * bptt, (window + 1) * bptt)
            x, y = epoch.inputs[column, span], epoch.targets[column, span]
            if epoch.starts[column, window]:
                current = int(x[0]) - 10 if x[0] != EOS_ID else None
                if current is not None:
                    seen.append(current)
            owners = {int(t) for t in x if t not in (PAD_ID, EOS_ID)}
            # A window's tokens come from the piece that began in this column, nothing else.
            assert owners <= ({current + 10} if current is not None else set())
            # Targets are the next token of the same piece; the last token's target is <pad>.
            for position in range(bptt - 1):
                if x[position] == EOS_ID or x[position] == PAD_ID:
                    assert y[position] == PAD_ID
                elif y[position] != PAD_ID:
                    assert y[position] in (x[position], EOS_ID)
    pieces_longer_than_one = [k for k, n in enumerate(lengths) if n > 1]
    assert sorted(seen) == pieces_longer_than_one


def test_each_piece_starts_a_window_and_keeps_every_token():
    lengths = [6, 11, 4, 13]
    ids, pieces = pieces_of(lengths)
    epoch = lay_out(ids, pieces, columns=2, bptt=4, seed=7)
    kept = np.sort(epoch.inputs[epoch.inputs != PAD_ID])
    assert np.array_equal(kept, np.sort(ids))
    assert epoch.starts.sum() == len(lengths)


def test_the_layout_depends_on_seed_and_epoch_only():
    ids, pieces = pieces_of([5, 9, 3, 14, 7, 6])
    first = lay_out(ids, pieces, 3, 4, seed=1, epoch=0)
    assert np.array_equal(first.inputs, lay_out(ids, pieces, 3, 4, seed=1, epoch=0).inputs)
    assert not np.array_equal(first.inputs, lay_out(ids, pieces, 3, 4, seed=1, epoch=1).inputs)


def test_window_tensors_and_state_resets():
    ids, pieces = pieces_of([5, 3])
    epoch = lay_out(ids, pieces, 2, 8, seed=None)
    x, y, keep = epoch.window(0)
    assert x.shape == y.shape == (2, 8) and str(x.dtype) == "torch.int64"
    assert not keep.any()  # both columns start a piece: their state is zeroed


def test_an_empty_piece_takes_no_window():
    """An empty text file is a piece of no tokens: laid after a full column, it has no
    window to start (it raised IndexError), and it takes none from the others."""
    ids = np.arange(3, 8)
    pieces = np.array([[0, 5], [5, 0], [5, 0]])
    epoch = lay_out(ids, pieces, columns=1, bptt=5, seed=None)
    assert epoch.inputs.tolist() == [ids.tolist()] and epoch.starts.tolist() == [[True]]
