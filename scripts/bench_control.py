"""Does steering work?  Each control, asked against measured, and the music still plausible.

For every control it generates 12+ pieces of 30 s and measures what was asked:

- ``--key``: median scale consistency in the asked key (pitched notes in its
  scale) and how often the Krumhansl-Schmuckler estimate of the output is
  the asked key (DESIGN §6: >= 0.97 and >= 80%).
- ``--density``: median notes per second for low, medium and high (each
  step >= 1.4x the one below).
- ``--instruments``: share of notes played by the asked instruments, and of 4-s
  windows in which all of them sound (they play together).
- ``--prime``: share of continuation notes on the prime's instruments, and
  whether the tempo stays the prime's.

Plausibility: mean overlapping area against held-out real pieces (the ones
the model's dataset split kept out), without and with each control; a
control should not lower it by more than 0.05.

    python scripts/bench_control.py [--model models/default] [--pieces 12] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import pretty_midi
from bench_music import REPO, held_out_files, notes_of
from bench_music import pretty as pretty_file
from shared_corpus import shared_corpus

import midigen
from midigen.midi.gm import KIT, Instruments
from midigen.midi.keys import Key, estimate_key
from midigen.model import default_model
from midigen.model.infill import Span, span_ticks
from midigen.model.trained import load_model
from midigen.views.compare import compare
from midigen.views.notes import song_notes

KEYS = ("C", "Am", "F#m", "Eb", "G", "Dm")
DENSITIES = ("low", "medium", "high")
INSTRUMENTS = ("piano,bass,strings", "guitar,drums", "flute,clarinet,bassoon")


def pretty(song: midigen.Song) -> pretty_midi.PrettyMIDI:
    return song.to_pretty_midi()  # quietly: a key signature in a note track is legal


def key_figures(songs: list[midigen.Song], key: Key) -> tuple[float, float]:
    consistency, matches = [], 0
    for song in songs:
        notes = [n for i in pretty(song).instruments if not i.is_drum for n in i.notes]
        consistency.append(sum(n.pitch % 12 in key.scale for n in notes) / max(len(notes), 1))
        weights = [0.0] * 12
        for note in notes:
            weights[note.pitch % 12] += note.end - note.start
        matches += estimate_key(weights) == key
    return statistics.median(consistency), matches / len(songs)


def ensemble_size(midi: pretty_midi.PrettyMIDI, by_program: bool = False) -> float:
    """Median over the first 30 s of the instruments with a note sounding in each bar:
    tracks, or with ``by_program`` distinct GM programs (POP909's melody, bridge and
    accompaniment are three piano tracks, one program; a generated file has one
    track per program)."""
    bars = [t for t in midi.get_downbeats() if t < 30.0]
    ends = [*bars[1:], bars[-1] + (bars[-1] - bars[-2] if len(bars) > 1 else 2.0)] if bars else []
    sizes = []
    for start, end in zip(bars, ends, strict=True):
        sounding = [
            (i.program, i.is_drum) if by_program else k
            for k, i in enumerate(midi.instruments)
            if any(n.start < end and n.end > start for n in i.notes)
        ]
        sizes.append(len(set(sounding)))
    return statistics.median(sizes) if sizes else 0.0


def notes_per_second(song: midigen.Song) -> float:
    notes = [n for i in pretty(song).instruments for n in i.notes]
    return len(notes) / max(max((n.end for n in notes), default=1.0), 1.0)


def all_heard(song: midigen.Song, asked: Instruments) -> bool:
    """Whether every instrument the musician named (a program, a family or the kit) plays."""
    played = {KIT if i.is_drum else i.program for i in pretty(song).instruments if i.notes}
    return all(named & played for named in asked.asked)


TOGETHER_WINDOW = 4.0  # seconds: about two bars, over which a trio's parts all sound


def played_together(song: midigen.Song, asked: Instruments) -> float:
    """The share of the piece's TOGETHER_WINDOW windows in which every instrument the
    musician named sounds: an ensemble, not the tune handed from one to the next."""
    sounding = [
        (KIT if i.is_drum else i.program, n.start, n.end)
        for i in pretty(song).instruments
        for n in i.notes
    ]
    end = max((stop for _, _, stop in sounding), default=0.0)
    windows = [k * TOGETHER_WINDOW for k in range(math.ceil(end / TOGETHER_WINDOW))]
    together = sum(
        all(
            any(i in named and a < start + TOGETHER_WINDOW and b > start for i, a, b in sounding)
            for named in asked.asked
        )
        for start in windows
    )
    return together / max(len(windows), 1)


def share_played_by(songs: list[midigen.Song], allowed: Instruments) -> float:
    inside = total = 0
    for song in songs:
        for instrument in pretty(song).instruments:
            ok = allowed.drums if instrument.is_drum else instrument.program in allowed.programs
            inside += ok * len(instrument.notes)
            total += len(instrument.notes)
    return inside / max(total, 1)


def plausibility(songs: list[midigen.Song], reference: list) -> float:
    return compare([song_notes(song) for song in songs], reference).mean_overlap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--corpus", type=Path, default=shared_corpus("real"))
    parser.add_argument("--pieces", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    model = load_model(args.model)
    dataset = REPO / model.config["data"]["source"]
    held_out = [p for ps in held_out_files(model, dataset, args.corpus).values() for p in ps]
    reference = notes_of(held_out)
    options = {"num": args.pieces, "length": "30s", "seed": args.seed}
    plain = model.generate_batch(**options)
    base = plausibility(plain, reference)
    print(f"model {args.model}; {args.pieces} pieces of 30 s per setting; "
          f"{len(reference)} held-out real pieces")  # fmt: skip
    print(f"no control: mean OA {base:.3f}, {statistics.median(map(notes_per_second, plain)):.2f} "
          "notes/s")  # fmt: skip
    real = [midi for path in held_out if (midi := pretty_file(path))]
    for by_program, unit in ((False, "tracks"), (True, "programs")):
        ours = statistics.median(ensemble_size(pretty(song), by_program) for song in plain)
        theirs = statistics.median(ensemble_size(midi, by_program) for midi in real)
        print(f"{unit} sounding together in a bar, median: generated {ours:g}, held-out real "
              f"{theirs:g}")  # fmt: skip
    started = time.perf_counter()
    steered = model.generate_batch(
        num=1, length="2000tokens", seed=args.seed, key="Am", density="medium",
        instruments="piano,bass,strings",
    )  # fmt: skip
    print(f"sampling with key, density and instruments: "
          f"{2000 / (time.perf_counter() - started):,.0f} tokens/s (one stream)")  # fmt: skip
    del steered
    print(f"\n{'--key':<10} {'in scale':>9} {'key found':>10} {'mean OA':>8}")
    found = []
    for name in KEYS:
        songs = model.generate_batch(**options, key=name)
        consistency, match = key_figures(songs, Key.parse(name))
        found.append(match)
        overlap = plausibility(songs, reference)
        print(f"{name:<10} {consistency:>9.3f} {match:>9.0%} {overlap:>8.3f}")
    print(f"key found in {statistics.mean(found):.0%} of all pieces")
    print(f"\n{'--density':<10} {'notes/s':>9} {'vs below':>9} {'mean OA':>8}")
    below = None
    for name in DENSITIES:
        songs = model.generate_batch(**options, density=name)
        rate = statistics.median(map(notes_per_second, songs))
        ratio = f"{rate / below:.2f}x" if below else ""
        print(f"{name:<10} {rate:>9.2f} {ratio:>9} {plausibility(songs, reference):>8.3f}")
        below = rate
    print(f"\n{'--instruments':<24} {'notes by them':>14} {'all heard':>10} {'together':>9} "
          f"{'notes/s':>8} {'mean OA':>8}")  # fmt: skip
    for names in INSTRUMENTS:
        songs = model.generate_batch(**options, instruments=names)
        asked = Instruments.parse(names)
        share = share_played_by(songs, asked)
        heard = sum(all_heard(song, asked) for song in songs) / len(songs)
        together = statistics.mean(played_together(song, asked) for song in songs)
        rate = statistics.median(map(notes_per_second, songs))
        print(f"{names:<24} {share:>14.1%} {heard:>10.0%} {together:>9.0%} {rate:>8.2f} "
              f"{plausibility(songs, reference):>8.3f}")  # fmt: skip
    primes = sorted(held_out)[:: max(1, len(held_out) // args.pieces)][: args.pieces]
    shares, tempos = [], []
    for prime in primes:
        try:
            (song,) = model.generate_batch(num=1, length="30s", prime=prime, seed=args.seed)
        except midigen.MidiError:
            continue
        kept = pretty(midigen.detokenize(model.prime_tokens(prime)))
        allowed = Instruments(
            frozenset(i.program for i in kept.instruments if not i.is_drum),
            any(i.is_drum for i in kept.instruments),
        )
        shares.append(share_played_by([song], allowed))
        tempos.append(
            len(set(pretty(song).get_tempo_changes()[1].round(2)))
            <= len(set(kept.get_tempo_changes()[1].round(2)))
        )
    print(f"\n--prime ({len(shares)} held-out primes, 10 s kept, 30 s in all): "
          f"{statistics.mean(shares):.1%} of notes on the prime's instruments, "
          f"tempo kept in {statistics.mean(tempos):.0%}")  # fmt: skip
    infill_figures(model, primes, args.seed)
    return 0


def infill_figures(model, songs: list[Path], seed: int) -> None:
    """Bars 5-8 of each song regenerated: outside kept, span changed, span in the song's key."""
    kept, changed, in_key = [], [], []
    for path in songs:
        original = midigen.read(path)
        try:
            edited = model.infill(original, bars=(5, 8), seed=seed)
            # the bars as midigen counts them: pretty_midi's downbeats count a short bar
            # where music21's files repeat a time signature mid-piece
            ticks = span_ticks(original, Span(5, 8, "bars"))
        except midigen.MidiError:
            continue
        first, last = (pretty(original).tick_to_time(tick) for tick in ticks)
        before, after = note_tuples(original), note_tuples(edited)

        def inside(note, first=first, last=last):
            return first - 1e-6 <= note[0] < last - 1e-6

        kept.append([n for n in before if not inside(n)] == [n for n in after if not inside(n)])
        changed.append([n for n in before if inside(n)] != [n for n in after if inside(n)])
        weights = [0.0] * 12
        for start, end, pitch, *_ in before:
            weights[pitch % 12] += end - start
        scale = estimate_key(weights).scale
        new = [n for n in after if inside(n) and not n[5]]
        if new:
            in_key.append(sum(n[2] % 12 in scale for n in new) / len(new))
    print(f"\ninfill --bars 5-8 ({len(kept)} held-out pieces): notes outside the span identical in "
          f"{statistics.mean(kept):.0%}, span changed in {statistics.mean(changed):.0%}, "
          f"span's notes in the piece's key: median {statistics.median(in_key):.2f}")  # fmt: skip


def note_tuples(song: midigen.Song) -> list[tuple]:
    return sorted(
        (n.start, n.end, n.pitch, n.velocity, i.program, i.is_drum)
        for i in pretty(song).instruments
        for n in i.notes
    )


if __name__ == "__main__":
    sys.exit(main())
