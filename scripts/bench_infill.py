"""Do infilled bars fit the song?  The regenerated span against the bars it replaces.

For the first FILES files of the shared real corpus (in a fixed shuffled order; skipped:
synthetic test files, files with under 16 pitched notes in the span or a span over 30 s) it
infills the same bars with each seed and compares the new notes with the song's own notes
there: how far their mean pitch and mean velocity lie from the original's (a span left
without pitched notes counts 24 semitones off), and by what factor their count differs
(|log((new + 1) / (original + 1))|, shown as a factor).  The original
bars are one way the music could go, not the only one, so the figures say how far an infill
strays from the song's register, loudness and rate, not whether it is right.

    python scripts/bench_infill.py [--model models/default] [--files 16] [--seeds 1,2]
                                   [--bars 5-8]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

from shared_corpus import shared_corpus

import midigen
from midigen.model import default_model
from midigen.model.infill import Span, span_ticks
from midigen.views.notes import Note, pretty, song_notes

SYNTHETIC = ("jazzsoft_", "dwm_ics_")  # generated test files, not music
MIN_PITCHED = 16
LONGEST_SPAN_SECONDS = 30.0


def span_notes(song: midigen.Song, bars: tuple[int, int]) -> list[Note]:
    """The notes of ``song`` that start inside ``bars``."""
    first, last = span_ticks(song, Span(*bars, "bars"))
    midi = pretty(song)  # the reading song_notes makes
    start, stop = midi.tick_to_time(first), midi.tick_to_time(last)
    return [note for note in song_notes(song) if start <= note.start < stop]


def figures(notes: list[Note]) -> tuple[int, float, float]:
    """Count, mean pitch (pitched notes; 0 without any) and mean velocity (0 without notes)."""
    pitches = [note.pitch for note in notes if not note.is_drum]
    pitch = statistics.fmean(pitches) if pitches else 0.0
    velocity = statistics.fmean(note.velocity for note in notes) if notes else 0.0
    return len(notes), pitch, velocity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=None, help="default: the shared real/")
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--bars", default="5-8")
    args = parser.parse_args()
    corpus = args.corpus or shared_corpus("real")
    if not corpus.is_dir():
        print(f"no corpus at {corpus}", file=sys.stderr)
        return 1
    model = midigen.load_model(args.model or default_model())
    seeds = [int(seed) for seed in args.seeds.split(",")]
    first, _, last = args.bars.partition("-")
    bars = (int(first), int(last or first))
    paths = sorted(path for path in corpus.glob("*.mid") if not path.name.startswith(SYNTHETIC))
    random.Random(5).shuffle(paths)
    strayed: dict[str, list[float]] = {"count factor": [], "pitch": [], "velocity": []}
    used = 0
    for path in paths:
        if used == args.files:
            break
        try:
            song = midigen.read(path.read_bytes())
            original = span_notes(song, bars)
        except midigen.MidiError:
            continue  # too few bars, or no ticks-per-quarter time base
        count, pitch, velocity = figures(original)
        seconds = max((note.start for note in original), default=0.0)
        seconds -= min((note.start for note in original), default=0.0)
        pitched = sum(not note.is_drum for note in original)
        if pitched < MIN_PITCHED or seconds > LONGEST_SPAN_SECONDS:
            continue
        used += 1
        for seed in seeds:
            new_count, new_pitch, new_velocity = figures(
                span_notes(model.infill(song, bars=bars, seed=seed), bars)
            )
            strayed["count factor"].append(abs(math.log((new_count + 1) / (count + 1))))
            strayed["pitch"].append(abs(new_pitch - pitch) if new_pitch else 24.0)
            strayed["velocity"].append(abs(new_velocity - velocity))
            print(
                f"{path.name[:36]:36} seed {seed}: notes {new_count:4d} / {count:4d}, "
                f"pitch {new_pitch:5.1f} / {pitch:5.1f}, velocity {new_velocity:5.1f} / "
                f"{velocity:5.1f}",
                flush=True,
            )
    print(f"\n{used} files, bars {args.bars}, seeds {args.seeds}: infill against the original")
    print(f"{'':16}{'mean':>8}{'median':>8}")
    for name, values in strayed.items():
        mean, median = statistics.fmean(values), statistics.median(values)
        if name == "count factor":  # shown as a factor, from the mean of |log|
            mean, median = math.exp(mean), math.exp(median)
        print(f"{name:<16}{mean:>8.2f}{median:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
