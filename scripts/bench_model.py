"""Which representation models music best? Held-out bits per note, same files, same budget.

Three models learn from the same training files and are scored on the same
held-out files (the dataset split, by content hash):

  (a) midigen's LSTM on `event` tokens,
  (b) the same LSTM on `chunk` tokens: raw SMF events, the approach midigen
      grew out of (its vocabulary is cut at --chunk-min-count; rarer events
      become <unk>, which only flatters it),
  (c) an interpolated Kneser-Ney 5-gram on `event` tokens.

Bits per note = all bits spent on a held-out piece / its notes, so schemes
with more or fewer tokens per note compare fairly.  Every held-out token a
vocabulary lacks is charged what naming it would cost on top of <unk>: its
share among the held-out unknowns (a unigram over them, which still
flatters the cut vocabulary a little).  Both LSTMs train for the same
wall-clock time; each --seed repeats the run, to show how stable it is.

With --model, it also scores a trained model (the shipped one) on held-out
songs it never trained on: POP909 songs and Nottingham tunes of the shared
corpus, each with its style when the model knows styles.

    python scripts/bench_model.py [--corpus DIR] [--seconds 300] [--seed 1 --seed 2]
    python scripts/bench_model.py --model models/default --no-compare
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from shared_corpus import shared_corpus

from midigen.data.dataset import PrepareConfig, open_dataset, prepare
from midigen.midi.reader import read
from midigen.model.train import TrainConfig, train
from midigen.model.trained import load_model
from midigen.tokens import tokenize
from midigen.tokens.vocab import UNK_ID

CORPUS = shared_corpus("real")
ORDER = 5
DISCOUNT = 0.75


class KneserNey:
    """Interpolated Kneser-Ney n-gram model (Chen & Goodman 1998), one fixed discount."""

    def __init__(self, pieces: list[np.ndarray], vocab_size: int, order: int = ORDER) -> None:
        self.order, self.vocab_size = order, vocab_size
        top = Counter()
        for piece in pieces:
            tokens = tuple(int(t) for t in piece)
            for end in range(1, len(tokens) + 1):
                top[tokens[max(0, end - order) : end]] += 1
        # Highest order counts; lower orders count distinct left contexts (continuation).
        self.counts: list[Counter] = [Counter() for _ in range(order + 1)]
        for gram, n in top.items():
            if len(gram) == order:
                self.counts[order][gram] += n
                self.counts[order - 1][gram[1:]] += 1
            else:  # a piece's first tokens: their short history is complete
                self.counts[len(gram)][gram] += n
        for size in range(order - 1, 1, -1):
            for gram in list(self.counts[size]):
                self.counts[size - 1][gram[1:]] += 1
        self.totals: list[defaultdict] = [defaultdict(int) for _ in range(order + 1)]
        self.types: list[defaultdict] = [defaultdict(int) for _ in range(order + 1)]
        for size in range(1, order + 1):
            for gram, n in self.counts[size].items():
                self.totals[size][gram[:-1]] += n
                self.types[size][gram[:-1]] += 1

    def probability(self, history: tuple[int, ...], token: int) -> float:
        p = 1.0 / self.vocab_size
        for size in range(1, min(len(history) + 1, self.order) + 1):
            context = history[len(history) - size + 1 :] if size > 1 else ()
            total = self.totals[size].get(context, 0)
            if not total:
                continue
            seen = self.counts[size].get((*context, token), 0)
            backoff = DISCOUNT * self.types[size][context] / total
            p = max(seen - DISCOUNT, 0) / total + backoff * p
        return p

    def bits(self, pieces: list[np.ndarray]) -> float:
        total = 0.0
        for piece in pieces:
            tokens = [int(t) for t in piece]
            for i in range(1, len(tokens)):
                history = tuple(tokens[max(0, i - self.order + 1) : i])
                total -= math.log2(self.probability(history, tokens[i]))
        return total


def split_pieces(dataset, split: str) -> list[np.ndarray]:
    ids = dataset.ids(split)
    return [np.asarray(ids[o : o + n]) for o, n, _ in dataset.pieces(split)]


def lstm_bits_per_note(
    data: Path, folder: Path, args: argparse.Namespace, seed: int
) -> tuple[float, int]:
    config = TrainConfig(
        time_seconds=args.seconds, eval_every=10**9, batch_size=16, bptt=128, seed=seed
    )
    architecture = {"hidden": args.hidden, "embed": args.embed, "layers": 2}
    progress = train(data, folder, config, architecture)
    metrics = load_model(folder).evaluate(data)
    return metrics.bits_per_note, progress.step


def unknown_charge(dataset, scheme: str) -> float:
    """Bits to name each held-out token outside the vocabulary, among the held-out unknowns."""
    unknown: Counter = Counter()
    for entry in dataset.meta["files"]:
        if entry["split"] == "valid":
            tokens = tokenize(read(entry["path"]), scheme)
            unknown.update(t for t in tokens if t not in dataset.vocab.ids)
    total = sum(unknown.values())
    return sum(n * math.log2(total / n) for n in unknown.values())


def held_out_bits(model_dir: Path, shared: Path) -> None:
    """Bits per note of a trained model on shared held-out songs, per style."""
    model = load_model(model_dir)
    print(f"model {model_dir}: bits per note on held-out files it never trained on")
    for style, pattern in (("pop", "pop909_*.mid"), ("folk", "nott_*.mid")):
        files = sorted(shared.glob(pattern))
        if not files:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / style  # a style folder, read as prepare --styles reads it
            folder.mkdir()
            for path in files:
                (folder / path.name).symlink_to(path.resolve())
            metrics = model.evaluate(scratch)
        known = "with its style" if style in model.styles else "no such style: unconditioned"
        print(f"  {style:<6} {len(files):>4} files ({known}): {metrics.bits_per_note:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, action="append", help="repeat per seed (default 1)")
    parser.add_argument("--model", type=Path, help="also score this model on held-out songs")
    parser.add_argument("--no-compare", action="store_true", help="only score --model")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--chunk-min-count", type=int, default=10)
    args = parser.parse_args()
    if args.model:
        held_out_bits(args.model, CORPUS)
    if args.no_compare:
        return 0
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    for seed in args.seed or [1]:
        compare_schemes(args, seed)
    return 0


def compare_schemes(args: argparse.Namespace, seed: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        rows = []
        for scheme, min_count in (("event", 1), ("chunk", args.chunk_min_count)):
            prepare(
                [args.corpus],
                root / scheme,
                PrepareConfig(
                    scheme=scheme, valid_fraction=args.valid_fraction, min_count=min_count
                ),
                jobs=0,
            )
            dataset = open_dataset(root / scheme)
            unknown = float((np.asarray(dataset.ids("valid")) == UNK_ID).mean())
            bits, steps = lstm_bits_per_note(root / scheme, root / f"model-{scheme}", args, seed)
            notes = int(dataset.pieces("valid")[:, 2].sum())
            bits += unknown_charge(dataset, scheme) / notes
            budget = f"{steps} steps, {args.seconds:.0f} s"
            rows.append(
                (
                    f"LSTM H{args.hidden} on {scheme} tokens",
                    len(dataset.vocab),
                    budget,
                    bits,
                    unknown,
                )
            )
        event = open_dataset(root / "event")
        notes = int(event.pieces("valid")[:, 2].sum())
        ngram = KneserNey(split_pieces(event, "train"), len(event.vocab))
        bits = ngram.bits(split_pieces(event, "valid")) / notes
        rows.append(("Kneser-Ney 5-gram on event tokens", len(event.vocab), "counts", bits, 0.0))
        valid_files = sum(f["split"] == "valid" for f in event.meta["files"])
    print(
        f"seed {seed}; corpus {args.corpus}: {len(event.meta['files'])} files, {valid_files} "
        f"held out ({notes} notes); bits per note on the held-out files (lower is better)"
    )
    print(f"{'model':<36} {'vocab':>7} {'training':>20} {'bits/note':>10} {'<unk>':>7}")
    for name, vocab, budget, value, unknown in rows:
        print(f"{name:<36} {vocab:>7} {budget:>20} {value:>10.3f} {unknown:>7.1%}")
    print(
        "<unk>: share of held-out tokens outside the vocabulary, each charged the bits "
        "to name it among the held-out unknowns"
    )


if __name__ == "__main__":
    sys.exit(main())
