"""Does generated music resemble real music?  Overlapping areas, rhythm, key and copying.

Generates pieces with a model and compares them with real pieces it never
trained on, statistic by statistic over the first 30 s (views/compare.py,
after Yang & Lerch's mgeval):

- unprimed, default options, against all the held-out pieces; for scale,
  real against real (two halves of the held-out pieces) and random notes;
- each style the model knows, against that style's held-out pieces, next to
  the yardstick of real pieces of the style the model trained on, drawn as
  many at a time, against the same held-out pieces (the most a model that
  plays exactly like its training music could reach), and drawn a batch at
  a time (what real music reaches, judged in samples as small);
- primed continuations: the first 10 s of held-out pieces continued to
  40 s, the continuation against the real rest of the same pieces, and its
  scale consistency in the prime's key (Krumhansl-Kessler estimate);
- rhythm (views/rhythm.py) and notes per second, medians, against real, and
  how pieces end: the share whose last sounding notes have the key's tonic
  in the bass, and the share whose last sounding notes are all in the tonic
  triad (held-out real pieces: their whole files' endings);
- the memorisation meter: how much of the generated and of the held-out
  music is found in the files the model trained on (views/copying.py).

Held-out pieces per style: POP909 songs and Nottingham tunes of the shared
corpus for pop and folk (scripts/build_corpus.py never trains on them), and
the validation split of the model's dataset (by content hash) for the other
styles.  The dataset is the one the model's config.json names.

Unprimed and per style, the model generates ``--batches`` batches of
``--pieces`` (seeds ``--seed`` on), and the overlaps are those of all of
them together, with the mean OA of each batch alone beside them: one batch
of 16 is a noisy sample (a style's mean OA moved by up to 0.16 from one
batch to the next), and a small sample's density estimates overlap less.

    python scripts/bench_music.py [--model models/default] [--pieces 16] [--batches 4] [--primes 12]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import sys
from pathlib import Path

from shared_corpus import not_music, shared_corpus

from midigen.midi.keys import Key, fitting_key
from midigen.midi.reader import read
from midigen.model.sample import Sampling
from midigen.model.trained import load_model
from midigen.views.compare import FEWEST_PIECES, STATISTICS, compare
from midigen.views.copying import copying, corpus_runs
from midigen.views.notes import Note, song_notes
from midigen.views.notes import pretty as heard
from midigen.views.rhythm import medians, rhythm

REPO = Path(__file__).resolve().parent.parent
SHARED_HELD_OUT = {"pop": "pop909_*.mid", "folk": "nott_*.mid"}  # in shared_corpus("real")
PRIME_SECONDS = 10.0
PIECE_SECONDS = 40.0


def held_out_files(model, dataset: Path, shared: Path) -> dict[str, list[Path]]:
    """Held-out real files per style the model knows, but test material that is no music
    (shared_corpus.not_music)."""
    files: dict[str, list[Path]] = {style: [] for style in model.styles}
    meta = dataset / "meta.json"
    if meta.exists():
        for entry in json.loads(meta.read_text())["files"]:
            style = entry.get("style")
            if entry["split"] == "valid" and style in files and style not in SHARED_HELD_OUT:
                files[style].append(REPO / entry["path"])
    for style, pattern in SHARED_HELD_OUT.items():
        if style in files:
            files[style] = sorted(shared.glob(pattern))
    for style, paths in files.items():  # a model's split may hold a test fragment
        left_out = {
            p: why
            for p in paths
            if file_notes(p) and (why := not_music(p.name, len(file_notes(p))))
        }
        for path, why in left_out.items():
            print(f"left out of the held-out {style} pieces: {path.name} ({why})")
        files[style] = [p for p in paths if p not in left_out]
    return {style: paths for style, paths in files.items() if paths}


def training_files(dataset: Path, style: str | None = None) -> list[Path]:
    """The files the model trained on: all of them, or those of one style."""
    meta = json.loads((dataset / "meta.json").read_text())
    return [
        REPO / e["path"]
        for e in meta["files"]
        if e["split"] == "train" and (style is None or e.get("style") == style)
    ]


YARDSTICK_DRAWS = 4  # one draw of 64 pieces moved a mean OA by about 0.03
BATCH_DRAWS = 32  # one draw of 16 moved it by up to 0.25


def yardstick(
    dataset: Path, style: str, reference, pieces: int, rng: random.Random, draws: int
) -> float | None:
    """Mean OA of ``pieces`` real training pieces of ``style`` (all of them, if it has
    fewer) against ``reference``, averaged over ``draws`` draws; None without a dataset
    to draw from."""
    if not (dataset / "meta.json").exists():
        return None
    files = [path for path in training_files(dataset, style) if path.exists()]
    if not files:
        return None
    if len(files) <= pieces:  # every draw would be the same
        return compare(notes_of(files), reference).mean_overlap
    overlaps = [
        compare(notes_of(rng.sample(files, pieces)), reference).mean_overlap for _ in range(draws)
    ]
    return statistics.mean(overlaps)


def generate_batches(model, batches: int, pieces: int, seed: int, **options) -> list:
    """``batches`` batches of ``pieces`` songs of 32 s, seeds ``seed`` on, in one list."""
    sampling = Sampling()  # the model as it learned: the default options
    return [
        song
        for batch in range(batches)
        for song in model.generate_batch(
            num=pieces, length="32s", sampling=sampling, seed=seed + batch, **options
        )
    ]


def per_batch(pieces: list[list[Note]], reference, size: int) -> str:
    """The mean OA of each batch of ``size`` pieces alone: their mean and range."""
    overlaps = [
        compare(pieces[start : start + size], reference).mean_overlap
        for start in range(0, len(pieces), size)
    ]
    return f"{statistics.mean(overlaps):.3f} ({min(overlaps):.2f}-{max(overlaps):.2f})"


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def notes_of(paths: list[Path]) -> list[list[Note]]:
    """The notes of each file that has some; the yardstick draws a file many times."""
    return [notes for path in paths if (notes := file_notes(path))]


@functools.cache
def file_notes(path: Path) -> list[Note]:
    try:
        return song_notes(read(path))
    except Exception:  # pretty_midi refuses a few files (SMPTE): leave them out
        return []


def pretty(path: Path):
    """The file as pretty_midi reads it, as players hear it (views/notes.py), or None
    where it refuses (huge ticks)."""
    try:
        return heard(read(path))
    except Exception:
        return None


def random_pieces(count: int, rng: random.Random) -> list[list[Note]]:
    pieces = []
    for _ in range(count):
        notes, now = [], 0.0
        while now < 30:
            now += rng.uniform(0.05, 0.6)
            pitch, velocity = rng.randrange(21, 109), rng.randrange(1, 128)
            notes.append(Note(now, now + rng.uniform(0.05, 1.5), pitch, velocity, "random", False))
        pieces.append(notes)
    return pieces


def after(notes: list[Note], seconds: float) -> list[Note]:
    """The notes that start at or after ``seconds``, moved to start at 0."""
    return [
        Note(n.start - seconds, n.end - seconds, n.pitch, n.velocity, n.instrument, n.is_drum)
        for n in notes
        if n.start >= seconds
    ]


def key_of(notes: list[Note]) -> Key:
    """The key of the pitched notes: the one whose scale holds most of them, and of
    those, the one the Krumhansl-Schmuckler estimate hears with each note weighted by how
    long it sounds (fitting_key, as the sampler finds a prime's)."""
    counts, weights = [0] * 12, [0.0] * 12
    for n in notes:
        if not n.is_drum:
            counts[n.pitch % 12] += 1
            weights[n.pitch % 12] += n.end - n.start
    return fitting_key(counts, weights)


def in_key_share(notes: list[Note], prime: list[Note]) -> float:
    """Share of the pitched notes in the scale of the prime's key."""
    scale = key_of(prime).scale
    pitched = [n.pitch % 12 for n in notes if not n.is_drum]
    return sum(p in scale for p in pitched) / len(pitched) if pitched else 0.0


def ending(notes: list[Note]) -> tuple[bool, bool] | None:
    """How a piece ends in its key (estimated over all its pitched notes): whether the
    lowest note sounding at its last onset is the tonic, and whether every note sounding
    there is in the tonic triad; None for a piece of fewer than 8 pitched notes."""
    pitched = [n for n in notes if not n.is_drum]
    if len(pitched) < 8:
        return None
    key = key_of(pitched)
    triad = set(key.triad)
    last = max(n.start for n in pitched)
    sounding = [n for n in pitched if n.start <= last < n.end] or [
        n for n in pitched if n.start == last
    ]
    bass = min(sounding, key=lambda n: n.pitch)
    return bass.pitch % 12 == key.tonic, all(n.pitch % 12 in triad for n in sounding)


def ending_shares(pieces: list[list[Note]]) -> tuple[float, float]:
    """The shares of ``pieces`` that end with the bass on the tonic, and on the tonic
    triad."""
    ends = [end for end in map(ending, pieces) if end is not None]
    return (
        sum(bass for bass, _ in ends) / len(ends),
        sum(chord for _, chord in ends) / len(ends),
    )


def overlap_table(results: dict) -> None:
    print(f"{'statistic':<22}" + "".join(f"{name:>22}" for name in results))
    for statistic in STATISTICS:
        row = "".join(f"{r.rows[statistic]['overlap']:>22.2f}" for r in results.values())
        print(f"{statistic:<22}{row}")
    print(f"{'mean':<22}" + "".join(f"{r.mean_overlap:>22.3f}" for r in results.values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--data", type=Path, help="the model's dataset (default: config.json's)")
    parser.add_argument("--shared", type=Path, default=shared_corpus("real"))
    parser.add_argument(
        "--pieces", type=at_least_one, default=16, help="generated pieces per batch"
    )
    parser.add_argument(
        "--batches", type=at_least_one, default=4, help="batches, unprimed and per style"
    )
    parser.add_argument("--primes", type=at_least_one, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-copying", action="store_true", help="skip the memorisation meter")
    args = parser.parse_args()
    model = load_model(args.model)
    dataset = args.data or REPO / model.config["data"]["source"]
    held_out = held_out_files(model, dataset, args.shared)
    if not held_out:
        sys.exit(f"no held-out pieces: neither {dataset}/meta.json nor {args.shared} has any")
    references = {style: notes_of(paths) for style, paths in held_out.items()}
    everything = [piece for pieces in references.values() for piece in pieces]
    rng = random.Random(args.seed)
    print(
        f"model {args.model}; held-out real pieces: "
        + ", ".join(f"{style} {len(pieces)}" for style, pieces in references.items())
    )

    songs = generate_batches(model, args.batches, args.pieces, args.seed)
    generated = [song_notes(song) for song in songs]
    shuffled = rng.sample(everything, len(everything))
    print(
        f"\n## unprimed, default options: {len(generated)} pieces of 32 s "
        f"({args.batches} batches of {args.pieces})"
    )
    overlap_table(
        {
            "generated vs real": compare(generated, everything),
            "real vs real": compare(shuffled[::2], shuffled[1::2]),
            "random vs real": compare(random_pieces(len(generated), rng), everything),
        }
    )
    each = per_batch(generated, everything, args.pieces)
    print(f"mean OA of each batch of {args.pieces} alone: {each}")
    real_rhythm = medians(
        [rhythm(midi) for paths in held_out.values() for p in paths if (midi := pretty(p))]
    )
    ours_rhythm = medians([rhythm(heard(song)) for song in songs])
    print(f"\n{'median':<26} {'generated':>10} {'held-out real':>14}")
    for name, value in ours_rhythm.items():
        print(f"{name:<26} {value:>10.2f} {real_rhythm[name]:>14.2f}")
    per_second = STATISTICS["notes_per_second"]
    window = lambda notes: [n for n in notes if n.start < 30]  # noqa: E731
    print(
        f"{'notes_per_second':<26} "
        f"{statistics.median(per_second(window(p)) for p in generated):>10.2f} "
        f"{statistics.median(per_second(window(p)) for p in everything):>14.2f}"
    )
    ours_end, real_end = ending_shares(generated), ending_shares(everything)
    for k, name in enumerate(("ends: bass on the tonic", "ends: in the tonic triad")):
        print(f"{name:<26} {ours_end[k]:>10.2f} {real_end[k]:>14.2f}")

    print("\n## each style against its held-out pieces")
    print(
        f"{'style':<12}{'pieces':>8}{'mean OA':>10}{'each batch':>20}{'entropy OA':>12}"
        f"{'scale OA':>10}{'training pieces':>17}{'each batch':>12}"
    )
    drawing = random.Random(args.seed)  # apart from ``rng``: the yardstick's own draws
    drawing_batches = random.Random(args.seed)
    for style, reference in references.items():
        songs = generate_batches(model, args.batches, args.pieces, args.seed, style=style)
        pieces = [song_notes(song) for song in songs]
        result = compare(pieces, reference)
        real = yardstick(dataset, style, reference, len(pieces), drawing, YARDSTICK_DRAWS)
        real_batch = yardstick(dataset, style, reference, args.pieces, drawing_batches, BATCH_DRAWS)
        print(
            f"{style:<12}{len(reference):>8}{result.mean_overlap:>10.3f}"
            f"{per_batch(pieces, reference, args.pieces):>20}"
            f"{result.rows['pitch_class_entropy']['overlap']:>12.2f}"
            f"{result.rows['scale_consistency']['overlap']:>10.2f}"
            f"{'' if real is None else f'{real:.3f}':>17}"
            f"{'' if real_batch is None else f'{real_batch:.3f}':>12}"
        )
    few = [style for style, reference in references.items() if len(reference) < FEWEST_PIECES]
    if few:
        print(
            f"fewer than {FEWEST_PIECES} held-out pieces ({', '.join(few)}): a rough measure; "
            "scripts/bench_reference_size.py --style STYLE says how rough"
        )

    # the first --primes held-out pieces, in an order of their own, that last long enough
    candidates = [p for paths in held_out.values() for p in paths]
    candidates = random.Random(args.seed).sample(candidates, len(candidates))
    continuations, rests, in_key = [], [], []
    for path in candidates:
        if len(continuations) == args.primes:
            break
        real = notes_of([path])
        if not real or real[0][-1].start < PIECE_SECONDS:
            continue
        song = model.generate_batch(
            num=1,
            length=f"{PIECE_SECONDS:g}s",
            prime=path,
            prime_seconds=PRIME_SECONDS,
            seed=len(continuations),
        )[0]
        continuation = after(song_notes(song), PRIME_SECONDS)
        continuations.append(continuation)
        rests.append(after([n for n in real[0] if n.start < PIECE_SECONDS], PRIME_SECONDS))
        in_key.append(in_key_share(continuation, [n for n in real[0] if n.start < PRIME_SECONDS]))
    if continuations:
        result = compare(continuations, rests)
        print(
            f"\n## primed: {len(continuations)} held-out pieces, {PRIME_SECONDS:g} s of prime "
            f"continued to {PIECE_SECONDS:g} s"
        )
        print(f"continuation vs the real rest: mean OA {result.mean_overlap:.3f}")
        print(
            f"scale consistency in the prime's key: median {statistics.median(in_key):.3f}, "
            f"lowest {min(in_key):.3f}"
        )

    if args.no_copying or not (dataset / "meta.json").exists():
        return 0
    corpus = corpus_runs(notes_of(training_files(dataset)))
    print("\n## copied from the training files (16-note runs, transposed copies count)")
    for name, pieces in (("generated", generated), ("held-out real", everything)):
        found = copying(pieces, corpus)
        print(
            f"{name:<14} {found.copied_share:>6.1%} of runs, longest copied run "
            f"{found.longest_run} notes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
