"""How much a style's mean OA says when its reference is a few real pieces.

`scripts/bench_music.py` measures each style against that style's held-out
pieces, and a style can have few: the default model's piano style has 4. To
see what such a score is worth, this draws many reference sets of the same
size from the style's real training pieces and measures two things against
each: the generated pieces (64, as bench_music draws them) and the style's
other real training pieces. Where real music itself seldom reaches 0.75
against four pieces, a generated score under it says more about the four than
about the music; the gap between the two rows is the model's.

The training pieces are ones the model learned from, so the generated row
may sit a little high against them (bench_music's memorisation meter says how
much it copies: 0.0% of 16-note runs for the shipped model).

    python scripts/bench_reference_size.py [--style piano] [--sizes 4,12] [--draws 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from bench_music import REPO, generate_batches, held_out_files, notes_of, training_files
from shared_corpus import shared_corpus

from midigen.model.trained import load_model
from midigen.views.compare import compare, compare_statistics, piece_statistics
from midigen.views.notes import song_notes

TARGET = 0.75  # issue 14's mean OA for each style


def summary(label: str, overlaps: list[float]) -> str:
    """Median, 10th-90th percentiles and the share at TARGET or above."""
    deciles = statistics.quantiles(overlaps, n=10)
    reached = sum(overlap >= TARGET for overlap in overlaps) / len(overlaps)
    return (
        f"  {label:<28}{statistics.median(overlaps):>8.3f}"
        f"{deciles[0]:>9.3f}-{deciles[-1]:.3f}{reached:>12.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--data", type=Path, help="the model's dataset (default: config.json's)")
    parser.add_argument("--shared", type=Path, default=shared_corpus("real"))
    parser.add_argument("--style", default="piano")
    parser.add_argument("--sizes", default="4,12", help="reference pieces per draw")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    model = load_model(args.model)
    dataset = args.data or REPO / model.config["data"]["source"]
    if not (dataset / "meta.json").exists():
        sys.exit(f"no dataset at {dataset} (build it with scripts/train_default.py, or --data)")
    real = notes_of([path for path in training_files(dataset, args.style) if path.exists()])
    sizes = [int(size) for size in args.sizes.split(",")]
    if len(real) <= max(sizes):
        sys.exit(f"{args.style} has {len(real)} training pieces: too few to draw {max(sizes)}")
    generated = [
        song_notes(song) for song in generate_batches(model, 4, 16, args.seed, style=args.style)
    ]
    held = held_out_files(model, dataset, args.shared).get(args.style, [])
    if held:
        reference = notes_of(held)
        print(
            f"{args.style} against its {len(held)} held-out pieces: generated "
            f"{compare(generated, reference).mean_overlap:.3f}, its {len(real)} real training "
            f"pieces {compare(real, reference).mean_overlap:.3f}"
        )
    generated_figures = [piece_statistics(piece) for piece in generated]
    real_figures = [piece_statistics(piece) for piece in real]  # each piece measured once
    rng = random.Random(args.seed)
    for size in sizes:
        ours, theirs = [], []
        for _ in range(args.draws):
            drawn = set(rng.sample(range(len(real)), size))
            reference = [real_figures[k] for k in sorted(drawn)]
            others = [figures for k, figures in enumerate(real_figures) if k not in drawn]
            ours.append(compare_statistics(generated_figures, reference).mean_overlap)
            theirs.append(compare_statistics(others, reference).mean_overlap)
        print(
            f"\n{args.draws} reference sets of {size} real {args.style} pieces:"
            f"\n  {'mean OA against each':<28}{'median':>8}{'10th-90th':>15}{f'>= {TARGET}':>10}"
        )
        print(summary(f"{len(generated)} generated pieces", ours))
        print(summary("the other real pieces", theirs))
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
