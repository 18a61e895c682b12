"""model + tokens -> numbers: loss, perplexity, bits per note, accuracy.

Bits per note divide the total bits the model spends on a piece (every token,
``<eos>`` included) by the notes in it, so that token schemes that spend
more or fewer tokens per note can be compared on the same music.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.batches import Epoch, lay_out
from ..data.dataset import Dataset
from ..tokens.vocab import PAD_ID
from .network import LanguageModel, State, reset_state
from .threads import ThreadTrials, same_on_any_count


@dataclass
class Metrics:
    """What `midigen evaluate --json` prints (keys as DESIGN §3 names them)."""

    loss: float
    perplexity: float
    bits_per_note: float | None
    accuracy: float
    tokens: int
    notes: int

    def to_dict(self) -> dict:
        return asdict(self)


PIECES_PER_COLUMN = 4


@torch.inference_mode()
def evaluate_split(
    network: LanguageModel,
    dataset: Dataset,
    split: str,
    bptt: int,
    batch: int,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    progress: Callable[[int, int], None] | None = None,
    tune_threads: bool = False,
) -> Metrics:
    """Score every piece of a split, each from a fresh state; ``progress`` hears the
    tokens scored so far and in all after each window.  With ``tune_threads`` the
    windows run on as many CPU threads as run them fastest (``ThreadTrials``), where
    one thread and all score a window to the same bits: `midigen evaluate` took 2 min
    51 s beside a busy process, where one thread took 8 s.  (Training, which calls
    this to validate, chooses its threads itself.)

    The pieces are laid out longest first, so that the columns end nearly
    together, and a column whose pieces have all ended leaves the batch: a
    piece far longer than the rest runs on alone, not with a batch of padding
    (scores do not depend on the layout).  With ``bf16`` the network runs in
    bfloat16 autocast, the loss in fp32.
    """
    ids, pieces = dataset.ids(split), dataset.pieces(split)
    # a few pieces per column even out the columns' lengths
    columns = max(1, min(batch, -(-len(pieces) // PIECES_PER_COLUMN)))
    longest_first = pieces[np.argsort(-pieces[:, 1], kind="stable")]
    epoch, busy = _busiest_first(lay_out(ids, longest_first, columns, bptt, seed=None))
    was_training = network.training
    network.eval()
    total, tokens, correct = 0.0, 0, 0
    expected = int((epoch.targets != PAD_ID).sum()) if progress else 0
    state = None
    cpu = torch.device(device).type == "cpu"
    threads = torch.get_num_threads()
    tunable = tune_threads and cpu and threads > 1 and epoch.windows > 0

    def first_window_scores() -> list[torch.Tensor]:  # the scores must not hang on the count
        x, _, _ = epoch.window(0, slice(None))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return [network(x)[0]]

    same = tunable and same_on_any_count(first_window_scores, threads)
    trials = ThreadTrials((1, threads) if same else ())
    # one autocast region for all windows: the weights are cast to bfloat16 once
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for window in range(epoch.windows):
            tick = time.monotonic()
            trials.begin(tick)
            # only the columns with tokens left: a long piece does not drag a batch of
            # padding along to its end
            active = int((busy > window).sum())
            x, y, keep = (t.to(device) for t in epoch.window(window, slice(active)))
            state = _first_columns(state, active)
            logits, state = network(x, reset_state(state, keep))
            flat, targets = logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1)
            total += float(F.cross_entropy(flat, targets, ignore_index=PAD_ID, reduction="sum"))
            scored = targets != PAD_ID
            tokens += int(scored.sum())
            correct += int((flat.argmax(-1) == targets)[scored].sum())
            trials.end(time.monotonic() - tick, time.monotonic())
            if progress:
                progress(tokens, expected)
    trials.restore()
    network.train(was_training)
    notes = int(pieces[:, 2].sum())
    loss = total / max(tokens, 1)
    return Metrics(
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),
        bits_per_note=total / math.log(2) / notes if notes else None,
        accuracy=correct / max(tokens, 1),
        tokens=tokens,
        notes=notes,
    )


def _busiest_first(epoch: Epoch) -> tuple[Epoch, np.ndarray]:
    """The epoch with its columns reordered, most windows of tokens first, and those counts."""
    has_tokens = (epoch.inputs != PAD_ID).reshape(len(epoch.inputs), epoch.windows, -1).any(-1)
    busy = np.where(has_tokens.any(1), epoch.windows - np.argmax(has_tokens[:, ::-1], 1), 0)
    order = np.argsort(-busy, kind="stable")
    reordered = Epoch(epoch.inputs[order], epoch.targets[order], epoch.starts[order], epoch.bptt)
    return reordered, busy[order]


def _first_columns(state: State, columns: int) -> State:
    """The recurrent state of the first ``columns`` columns only."""
    if state is None or (state[0] if isinstance(state, tuple) else state).shape[1] == columns:
        return state
    if isinstance(state, tuple):
        return tuple(part[:, :columns].contiguous() for part in state)
    return state[:, :columns].contiguous()
