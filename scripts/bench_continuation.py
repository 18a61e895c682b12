"""Does a continuation go on with its prime's instruments, as the real piece does?

For each shared real file of several instruments (two or more heard in its first
10 s, three or more in all, at least 45 s long), the file's first 10 s are
continued to 40 s (`midigen generate --prime FILE --length 40s`) with each seed,
and the new music (10-40 s) is measured against the file's own 10-40 s:

- on the prime's instruments: the share of the new notes played by instruments
  heard in the prime (the rest come from the file's other instruments, which
  may join);
- playing on: the share of the instruments heard in the prime that play at
  least one note in the new music (an ensemble that falls silent while another
  instrument takes the piece over has drifted from its prime);
- lone notes: the share of the new notes that no other note of their
  instrument begins within LONE_BEATS of, either way (an instrument called
  back for one hit at a time is not playing its part).

    python scripts/bench_continuation.py [--model models/default] [--files 54] [--seeds 1,2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from shared_corpus import shared_corpus

import midigen
from midigen.model import default_model
from midigen.model.trained import load_model
from midigen.views.notes import pretty

PRIME_SECONDS = 10.0
PIECE_SECONDS = 40.0
DRUMS = 128  # the kit, beside programs 0-127
LONE_BEATS = 4  # at the piece's first tempo
NOT_MUSIC = ("jazzsoft_", "muspy_")  # synthetic test files of the shared corpus


def onsets(song) -> tuple[list[tuple[float, int]], float]:
    """(start in seconds, program or DRUMS) of every note, and the first beat's length."""
    music = pretty(song)
    _, tempi = music.get_tempo_changes()
    notes = [
        (note.start, DRUMS if instrument.is_drum else instrument.program)
        for instrument in music.instruments
        for note in instrument.notes
    ]
    return notes, 60.0 / (tempi[0] if len(tempi) else 120.0)


def lone_share(notes: list[tuple[float, int]], beat: float) -> float:
    """The share of the new notes with no other onset of their instrument within LONE_BEATS."""
    starts: dict[int, list[float]] = {}
    for start, program in notes:
        starts.setdefault(program, []).append(start)
    reach = LONE_BEATS * beat
    lone = new = 0
    for times in starts.values():
        times.sort()
        for k, start in enumerate(times):
            if not PRIME_SECONDS <= start < PIECE_SECONDS:
                continue
            new += 1
            before = k > 0 and start - times[k - 1] <= reach
            after = k + 1 < len(times) and times[k + 1] - start <= reach
            lone += not (before or after)
    return lone / new if new else 0.0


def kept(notes: list[tuple[float, int]], beat: float) -> tuple[float, float, float] | None:
    """(share of the new notes on the prime's instruments, share of the prime's instruments
    playing on, share of lone new notes), or None when nothing plays after the prime."""
    heard = {program for start, program in notes if start < PRIME_SECONDS}
    new = [program for start, program in notes if PRIME_SECONDS <= start < PIECE_SECONDS]
    if not new or not heard:
        return None
    on_prime = sum(program in heard for program in new) / len(new)
    return on_prime, len(heard & set(new)) / len(heard), lone_share(notes, beat)


def ensemble_files(folder: Path) -> list[tuple[Path, tuple[list[tuple[float, int]], float]]]:
    """The shared files of several instruments, with their notes and beat."""
    files = []
    for path in sorted(folder.glob("*.mid")):
        if path.name.startswith(NOT_MUSIC):
            continue
        try:
            song = midigen.read(path)
            notes, beat = onsets(song)
        except midigen.MidiError:
            continue
        heard = {program for start, program in notes if start < PRIME_SECONDS}
        long_enough = pretty(song).get_end_time() >= PIECE_SECONDS + 5
        if long_enough and len(heard) >= 2 and len({program for _, program in notes}) >= 3:
            files.append((path, (notes, beat)))
    return files


GROUP = "{:>8} {:>7} {:>7}"  # median, mean and lowest of one figure


def summary(label: str, figures: list[tuple[float, float]]) -> str:
    groups = [
        GROUP.format(*(f"{v:.3f}" for v in (statistics.median(f), statistics.mean(f), min(f))))
        for f in zip(*figures, strict=True)
    ]
    return f"{label:<12}" + "   ".join(groups)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--shared", type=Path, default=shared_corpus("real"))
    parser.add_argument("--files", type=int, default=54)
    parser.add_argument("--seeds", default="1,2")
    args = parser.parse_args()
    started = time.perf_counter()
    model = load_model(args.model or default_model())
    seeds = [int(seed) for seed in args.seeds.split(",")]
    files = ensemble_files(args.shared)[: args.files]
    real, generated = [], []
    for path, (notes, beat) in files:
        if (figures := kept(notes, beat)) is None:
            continue
        real.append(figures)
        row = [f"{path.name[:40]:<40} real " + "/".join(f"{f:.2f}" for f in figures)]
        for seed in seeds:
            song = model.generate(prime=path, length=f"{PIECE_SECONDS:g}s", seed=seed)
            if (figures := kept(*onsets(song))) is not None:
                generated.append(figures)
                row.append("/".join(f"{f:.2f}" for f in figures))
        print("  ".join(row), flush=True)
    print(f"\n{len(real)} files, seeds {args.seeds}: 10 s of prime continued to 40 s")
    heads = GROUP.format("median", "mean", "lowest")
    print(f"{'':<12}{'on prime instruments':<25}{'prime ones playing on':<25}lone notes")
    print(f"{'':<12}{heads}   {heads}   {heads}")
    print(summary("real rest", real))
    print(summary("generated", generated))
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
