"""Does generated music resemble real music?  Overlapping areas of nine statistics.

Generates pieces with a model and compares them with real pieces the model
never trained on (the files its dataset split held out, by content hash),
statistic by statistic over the first 30 s (midigen/compare.py, after Yang &
Lerch's mgeval).  For scale it also compares real with real (two disjoint
halves of the corpus) and random notes with real.  Then the memorisation
meter: how much of the generated and of the held-out pieces is found in the
files the split trains on (views/copying.py); a better score means little
if the generated music copies more than real music shares with the corpus.

    python scripts/bench_music.py [--model models/default] [--pieces 16] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

from shared_corpus import shared_corpus

from midigen.data.dataset import split_position
from midigen.midi.reader import read
from midigen.model.sample import Sampling
from midigen.model.trained import load_model
from midigen.views.compare import STATISTICS, compare
from midigen.views.copying import copying, corpus_runs
from midigen.views.notes import Note, song_notes
from midigen.views.rhythm import medians, rhythm

REPO = Path(__file__).resolve().parent.parent
CORPUS = shared_corpus("real")


def held_out(corpus: Path, fraction: float) -> tuple[list[Path], list[Path]]:
    """(files the split keeps for validation, the others)."""
    valid, train = [], []
    for path in sorted(corpus.rglob("*.mid")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        (valid if split_position(digest) < fraction else train).append(path)
    return valid, train


def notes_of(paths: list[Path]) -> list[list[Note]]:
    pieces = []
    for path in paths:
        try:
            notes = song_notes(read(path))
        except Exception:  # pretty_midi refuses a few files (SMPTE): leave them out
            continue
        if notes:
            pieces.append(notes)
    return pieces


def readable(path: Path) -> bool:
    try:
        read(path).to_pretty_midi()
    except Exception:  # pretty_midi refuses a few files (SMPTE): leave them out
        return False
    return True


def random_pieces(count: int, rng: random.Random) -> list[list[Note]]:
    pieces = []
    for _ in range(count):
        notes, now = [], 0.0
        while now < 30:
            now += rng.uniform(0.05, 0.6)
            notes.append(
                Note(
                    now,
                    now + rng.uniform(0.05, 1.5),
                    rng.randrange(21, 109),
                    rng.randrange(1, 128),
                    "random",
                    False,
                )
            )
        pieces.append(notes)
    return pieces


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    model = load_model(args.model)
    fraction = model.config["data"].get("valid_fraction") or 0.05
    valid, train = held_out(args.corpus, fraction)
    reference = notes_of(valid)
    songs = model.generate_batch(
        num=args.pieces,
        length="32s",
        sampling=Sampling(temperature=args.temperature, top_p=args.top_p),
        seed=args.seed,
    )
    generated = [song_notes(song) for song in songs]
    rng = random.Random(args.seed)
    half = rng.sample(train, min(len(train), 2 * max(len(reference), 12)))
    first, second = notes_of(half[::2]), notes_of(half[1::2])
    results = {
        "generated vs held-out": compare(generated, reference),
        "real vs real": compare(first, second),
        "random vs held-out": compare(random_pieces(args.pieces, rng), reference),
    }
    print(
        f"model {args.model}; {len(generated)} generated pieces, {len(reference)} held-out "
        f"real pieces (first 30 s); overlapping area per statistic"
    )
    print(f"{'statistic':<22}" + "".join(f"{name:>24}" for name in results))
    for statistic in STATISTICS:
        print(
            f"{statistic:<22}"
            + "".join(f"{r.rows[statistic]['overlap']:>24.2f}" for r in results.values())
        )
    print(f"{'mean':<22}" + "".join(f"{r.mean_overlap:>24.3f}" for r in results.values()))
    real_rhythm = medians([rhythm(read(path).to_pretty_midi()) for path in valid if readable(path)])
    ours_rhythm = medians([rhythm(song.to_pretty_midi()) for song in songs])
    print(f"{'rhythm (median)':<26} {'generated':>10} {'held-out real':>14}")
    for name, value in ours_rhythm.items():
        print(f"{name:<26} {value:>10.2f} {real_rhythm[name]:>14.2f}")
    corpus = corpus_runs(notes_of(train))  # the files the split trains on
    for name, pieces in (("generated", generated), ("held-out real", reference)):
        found = copying(pieces, corpus)
        print(
            f"copied from the training files, {name}: {found.copied_share:.1%} of 16-note runs, "
            f"longest {found.longest_run} notes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
