"""How fast does midigen read and write MIDI compared to its peers, on the same bytes?

Every tool processes the same in-memory corpus (all ``.mid`` files, loaded
once as bytes), so disk speed plays no part:

    read   midigen.read(b)                  the codec under test
    read   mido.MidiFile(file=BytesIO(b))   the pure-Python peer
    read   symusic.Score.from_midi(b)       a C++ peer, if installed
    read   walk_smf(b), in this file        a minimal pure-Python byte walker:
                                            decodes every event, builds nothing
    write  midigen.write(song)              songs read before timing
    write  mido.MidiFile.save(BytesIO())    mido files read before timing

Each run times every tool once, one after the other, so that machine noise
hits all of them alike; the table shows the median over the runs. Events are
counted the way midigen counts them (``len(track)`` summed over tracks), and
"vs mido" compares events per second, so symusic, which times fewer files,
stays comparable. Before timing, the script counts the files for which
``midigen.write(midigen.read(b)) == b`` (and the same through mido), and
leaves out files that a tool cannot read or write, or that the walker decodes
differently from midigen. DESIGN.md §6 sets the targets: read and write at
least 10x faster than mido, read within 2x of the walker.

Run from anywhere:

    python scripts/bench_codec.py [--corpus DIR] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mido
from shared_corpus import shared_corpus

import midigen

DEFAULT_CORPUS = shared_corpus("real")
# symusic 0.6 rejects header lengths other than 6; ../shared/corpus/README.md asks
# to leave this file out of symusic timings.
SYMUSIC_SKIP = {"dwm_ics_candyluv.mid"}
# Data bytes after a channel status byte (SMF 1.0): two, except program change
# (0xC0-0xCF) and channel pressure (0xD0-0xDF), which have one.
DATA_LENGTH = [
    1 if 0xC0 <= status < 0xE0 else 2 if 0x80 <= status < 0xF0 else 0 for status in range(256)
]
END_OF_TRACK = 0x2F


@dataclass
class MidiBytes:
    name: str
    data: bytes
    events: int  # as midigen counts them: len(track) summed over tracks
    midigen_exact: bool  # midigen.write(midigen.read(data)) == data
    mido_exact: bool  # the same through mido.MidiFile and save


@dataclass
class Contender:
    """One tool doing one operation over ``files``; ``run`` does the whole pass once."""

    op: str  # "read" or "write"
    tool: str
    run: Callable[[], object]
    files: list[MidiBytes]
    seconds: list[float] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(file.events for file in self.files)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def events_per_s(self) -> float:
        return self.events / self.median


# -- the byte walker ----------------------------------------------------------


def walk_smf(data: bytes) -> int:
    """Decode every event of a well-formed SMF, keep nothing, and return the event count.

    This is the floor for a pure-Python reader: the same byte-level work as
    midigen.read (VLQ deltas, running status, meta and sysex lengths, End of
    Track) without building a single object.  Unknown chunks are skipped.
    """
    header_length = int.from_bytes(data[4:8], "big")
    pos = 8 + header_length
    events = 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if data[pos : pos + 4] == b"MTrk":
            events += walk_track(data, pos + 8)
        pos += 8 + length
    return events


def walk_track(data: bytes, i: int) -> int:
    """Walk one MTrk body from offset ``i`` up to its End of Track; return the event count."""
    lengths = DATA_LENGTH
    status = 0
    events = 0
    while True:
        delta = data[i]
        i += 1
        if delta >= 0x80:
            delta &= 0x7F
            while True:
                byte = data[i]
                i += 1
                delta = delta << 7 | (byte & 0x7F)
                if byte < 0x80:
                    break
        byte = data[i]
        events += 1
        if byte < 0x80:  # running status
            i += lengths[status]
        elif byte < 0xF0:
            status = byte
            i += 1 + lengths[byte]
        elif byte == 0xFF:
            meta_type = data[i + 1]
            size, i = walk_vlq(data, i + 2)
            i += size
            if meta_type == END_OF_TRACK:
                return events
        else:  # 0xF0 or 0xF7 sysex
            size, i = walk_vlq(data, i + 1)
            i += size


def walk_vlq(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[i]
        i += 1
        value = value << 7 | (byte & 0x7F)
        if byte < 0x80:
            return value, i


# -- corpus and checks --------------------------------------------------------


def mido_read(data: bytes) -> mido.MidiFile:
    return mido.MidiFile(file=io.BytesIO(data))


def load_corpus(folder: Path) -> tuple[list[MidiBytes], list[str]]:
    """Read every .mid file once; return the files all tools handle, and why others left."""
    files = []
    skipped = []
    for path in sorted(folder.glob("*.mid")):
        data = path.read_bytes()
        try:
            files.append(round_trip(path.name, data))
        except Exception as error:  # any tool failing drops the file, whatever it raises
            skipped.append(f"{path.name}: {type(error).__name__}: {error}")
    return files, skipped


def round_trip(name: str, data: bytes) -> MidiBytes:
    """Put one file through every tool once, noting which writers give back the same bytes.

    Raises whatever a tool raises, and ValueError when the walker and midigen
    disagree on the number of events (so the walker would not be doing the same work).
    """
    song = midigen.read(data)
    events = sum(len(track) for track in song.tracks)
    walked = walk_smf(data)
    if walked != events:
        raise ValueError(f"walker decodes {walked} events, midigen {events}")
    out = io.BytesIO()
    mido_read(data).save(file=out)
    return MidiBytes(
        name,
        data,
        events,
        midigen_exact=midigen.write(song) == data,
        mido_exact=out.getvalue() == data,
    )


# -- timing -------------------------------------------------------------------


def each(function: Callable[[object], object], items: list) -> Callable[[], None]:
    """A pass that calls ``function`` on every item and discards the results."""

    def run() -> None:
        for item in items:
            function(item)

    return run


def save_to_memory(midi_file: mido.MidiFile) -> None:
    midi_file.save(file=io.BytesIO())


def symusic_contender(files: list[MidiBytes]) -> Contender | None:
    """symusic's reader on the files it can load, or None when symusic is not installed."""
    try:
        import symusic
    except ImportError:
        return None
    loadable = []
    for file in files:
        if file.name in SYMUSIC_SKIP:
            continue
        try:
            symusic.Score.from_midi(file.data)
        except Exception:  # symusic raises RuntimeError, among others
            continue
        loadable.append(file)
    blobs = [file.data for file in loadable]
    return Contender(
        "read", "symusic Score.from_midi", each(symusic.Score.from_midi, blobs), loadable
    )


def contenders(files: list[MidiBytes]) -> list[Contender]:
    """Every tool, with what it needs read beforehand (songs and mido files for writing)."""
    blobs = [file.data for file in files]
    songs = [midigen.read(data) for data in blobs]
    mido_files = [mido_read(data) for data in blobs]
    table = [
        Contender("read", "midigen.read", each(midigen.read, blobs), files),
        Contender("read", "mido.MidiFile", each(mido_read, blobs), files),
        symusic_contender(files),
        Contender("read", "byte walker", each(walk_smf, blobs), files),
        Contender("write", "midigen.write", each(midigen.write, songs), files),
        Contender("write", "mido.MidiFile.save", each(save_to_memory, mido_files), files),
    ]
    return [contender for contender in table if contender is not None]


def time_runs(table: list[Contender], runs: int) -> None:
    """Run every contender once per run, in turn, so that noise spreads over all of them.

    The songs and mido files kept for the write benchmark are frozen out of the
    cyclic collector first; otherwise each tool's garbage collections would
    rescan millions of objects that belong to the benchmark, not to the tool.
    """
    gc.collect()
    gc.freeze()
    for _ in range(runs):
        for contender in table:
            start = time.perf_counter()
            contender.run()
            contender.seconds.append(time.perf_counter() - start)


# -- report -------------------------------------------------------------------


def vs_mido(table: list[Contender], contender: Contender) -> float:
    """Events per second relative to mido doing the same operation."""
    peer = find(table, "mido.MidiFile" if contender.op == "read" else "mido.MidiFile.save")
    return contender.events_per_s / peer.events_per_s


def find(table: list[Contender], tool: str) -> Contender:
    return next(c for c in table if c.tool == tool)


def report(
    corpus_dir: Path, files: list[MidiBytes], skipped: list[str], table: list[Contender], runs: int
) -> dict:
    walker_ratio = find(table, "midigen.read").median / find(table, "byte walker").median
    return {
        "corpus": str(corpus_dir),
        "files": len(files),
        "bytes": sum(len(file.data) for file in files),
        "events": sum(file.events for file in files),
        "skipped": skipped,
        "runs": runs,
        "byte_identical_writes": {
            "midigen": sum(file.midigen_exact for file in files),
            "mido": sum(file.mido_exact for file in files),
        },
        "results": [
            {
                "op": c.op,
                "tool": c.tool,
                "files": len(c.files),
                "events": c.events,
                "left_out": sorted({file.name for file in files} - {f.name for f in c.files}),
                "median_s": c.median,
                "seconds": c.seconds,
                "events_per_s": c.events_per_s,
                "vs_mido": vs_mido(table, c),
            }
            for c in table
        ],
        "midigen_read_vs_walker": walker_ratio,
    }


def print_table(result: dict) -> None:
    files = result["files"]
    print(
        f"corpus {result['corpus']}: {files} files, {result['bytes'] / 1e6:.2f} MB, "
        f"{result['events']:,} events; median of {result['runs']} runs"
    )
    for line in result["skipped"]:
        print(f"  left out {line}")
    identical = result["byte_identical_writes"]
    print(
        f"write(read(b)) == b: midigen {identical['midigen']}/{files}, "
        f"mido {identical['mido']}/{files}"
    )
    print()
    print(f"{'op':<6}{'tool':<26}{'files':>6}{'median s':>10}{'events/s':>11}{'vs mido':>9}")
    for row in result["results"]:
        print(
            f"{row['op']:<6}{row['tool']:<26}{row['files']:>6}{row['median_s']:>10.3f}"
            f"{row['events_per_s'] / 1e6:>10.2f}M{row['vs_mido']:>8.1f}x"
        )
    for row in result["results"]:
        if row["left_out"]:
            print(f"  {row['tool']} left out {', '.join(row['left_out'])}")
    print()
    rows = {row["tool"]: row for row in result["results"]}
    print(f"midigen read vs mido:  {rows['midigen.read']['vs_mido']:.1f}x faster (target >= 10x)")
    print(f"midigen write vs mido: {rows['midigen.write']['vs_mido']:.1f}x faster (target >= 10x)")
    print(f"midigen read time / walker time: {result['midigen_read_vs_walker']:.2f} (target <= 2)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help=f"folder of .mid files (default {DEFAULT_CORPUS})",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs, at least 3 (default 5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 for a meaningful median")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.corpus.is_dir():
        sys.exit(f"error: corpus folder {args.corpus} not found (pass --corpus DIR)")
    files, skipped = load_corpus(args.corpus)
    if not files:
        sys.exit(f"error: no readable .mid files in {args.corpus}")
    table = contenders(files)
    time_runs(table, args.runs)
    result = report(args.corpus, files, skipped, table, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
