"""How many notes survive `tokenize --scheme event` + `detokenize`, as pretty_midi sees them.

For every file, pretty_midi reads the original and the round-tripped bytes as
midigen's views do (views/notes.py): with the tempo of every track, as players
take it, where pretty_midi alone reads the first track's.
A note is kept when the round trip has a note of the same instrument
(program, or drums), pitch, onset and offset within half a step of the
1/12-beat grid (at the local tempo of the original), and velocity within 8.

    python scripts/check_event_roundtrip.py [FOLDER_OR_FILES...] [--show-worst 10]
"""

from __future__ import annotations

import argparse
import sys
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path

import pretty_midi
from shared_corpus import shared_corpus

import midigen
from midigen.views.notes import pretty

DEFAULT_CORPUS = shared_corpus("real")
STEPS_PER_BEAT = 12
SLACK_SECONDS = 1e-6  # float noise in pretty_midi's tick -> seconds


def notes_by_key(midi: pretty_midi.PrettyMIDI) -> dict[tuple, list]:
    notes = defaultdict(list)
    for instrument in midi.instruments:
        key = ("drums",) if instrument.is_drum else (instrument.program,)
        for note in instrument.notes:
            notes[(*key, note.pitch)].append(note)
    for group in notes.values():
        group.sort(key=lambda n: n.start)
    return notes


def half_step_at(midi: pretty_midi.PrettyMIDI):
    times, tempi = midi.get_tempo_changes()
    times = list(times)

    def half_step(seconds: float) -> float:
        bpm = tempi[max(bisect_right(times, seconds) - 1, 0)]
        return 0.5 * 60.0 / bpm / STEPS_PER_BEAT

    return half_step


def kept_notes(
    original: pretty_midi.PrettyMIDI, decoded: pretty_midi.PrettyMIDI
) -> tuple[int, int]:
    half_step = half_step_at(original)
    candidates = notes_by_key(decoded)
    kept = total = 0
    for key, notes in notes_by_key(original).items():
        pool = candidates.get(key, [])
        used = [False] * len(pool)
        starts = [n.start for n in pool]
        for note in notes:
            total += 1
            tolerance = half_step(note.start) + SLACK_SECONDS
            k = bisect_right(starts, note.start - tolerance - 1e-9)
            while k < len(pool) and pool[k].start <= note.start + tolerance:
                other = pool[k]
                if (
                    not used[k]
                    and abs(other.end - note.end) <= half_step(note.end) + SLACK_SECONDS
                    and abs(other.velocity - note.velocity) <= 8
                ):
                    used[k] = True
                    kept += 1
                    break
                k += 1
    return kept, total


def check(path: Path) -> tuple[int, int]:
    source = midigen.read(path.read_bytes())
    song = midigen.detokenize(midigen.tokenize(source, scheme="event"))
    return kept_notes(pretty(source), pretty(song))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--show-worst", type=int, default=10)
    args = parser.parse_args()
    missing = [str(item) for item in args.inputs if not item.exists()]
    if missing:  # the shared corpus is absent on a fresh clone: say so, not "0 checked"
        sys.exit(f"not found: {', '.join(missing)} (set $MIDIGEN_SHARED_CORPUS, or name files)")
    files = [
        p
        for item in args.inputs
        for p in (sorted(item.rglob("*.mid")) if item.is_dir() else [item])
    ]
    if not files:
        sys.exit(f"no MIDI files in {', '.join(map(str, args.inputs))}")
    results, failures = [], []
    for path in files:
        try:
            results.append((path, *check(path)))
        except Exception as error:  # pretty_midi or midigen refusing a file: report it
            failures.append((path, error))
    kept = sum(r[1] for r in results)
    total = sum(r[2] for r in results)
    print(f"files: {len(results)} checked, {len(failures)} skipped")
    print(f"notes kept: {kept} / {total} = {100 * kept / max(total, 1):.3f}%")
    worst = sorted((r for r in results if r[2]), key=lambda r: r[1] / r[2])[: args.show_worst]
    for path, k, t in worst:
        print(f"  {100 * k / max(t, 1):7.2f}%  {k:6d}/{t:<6d} {path.name}")
    for path, error in failures:
        print(f"  skipped {path.name}: {type(error).__name__}: {error}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
