"""Build the training corpus: music21's bundled scores and the shared MIDI files -> CORPUS/.

This is the corpus midigen's shipped default model (an LSTM on multi-instrument music with
drums) is trained on. It needs music21 (`pip install -e '.[corpus]'` or `pip install music21`),
whose pip package bundles its corpus, so nothing is downloaded.

Usage:

    python scripts/build_corpus.py -o corpus/
    python scripts/build_corpus.py -o corpus/ --music21 bach,essenFolksong --limit 20 --jobs 4
    python scripts/build_corpus.py -o corpus/ --no-shared

Produces:

    CORPUS/music21/<collection>/<name>.mid   one file per score (per tune for ABC song books)
    CORPUS/shared/<name>.mid                 ../shared/corpus/real, copied byte for byte
    CORPUS/MANIFEST.json                     per file: path, source, licence, sha256, bytes
                                             (music21 files: also rights, GM programs); and a
                                             summary: counts, skipped scores, licence texts

The music21 collections are all those in the installed package but EXCLUDED_BY_DEFAULT (see
there why); --limit N keeps the first N files of each collection and of the shared folder.

Most music21 scores name their parts but carry no usable GM program (the Haydn quartets say
"Acoustic Grand Piano" for the violins), so every part gets one here. A part whose name music21
recognises as an instrument keeps that instrument ("Violin I", "Horn 2", "Piano"). The others,
and in choral collections the voices too, take the instruments of an ensemble (choir, strings,
organ, woodwinds or brass), chosen per score, top voice to bottom. Folk tunes get a melody
instrument chosen per tune. Each part then gets its own MIDI channel: music21 gives parts with
equal programs one shared channel.

The output is reproducible: inputs are sorted, every choice comes from a random.Random seeded
with SEED and the score's corpus path, and MANIFEST.json has no timestamps. Two runs with the
same music21 version write byte-identical files.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import multiprocessing
import os
import random
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared_corpus import shared_corpus
from tqdm import tqdm

try:
    import music21
    from music21 import bar, converter, instrument, key, meter, repeat, spanner, stream, tempo
    from music21.midi import ChannelVoiceMessages, translate
except ImportError:
    sys.exit(
        "error: build_corpus.py needs music21: pip install music21 (or: pip install -e '.[corpus]')"
    )

SEED = "midigen-corpus-1"
DEFAULT_SHARED = shared_corpus("real")

# Score formats music21 parses, in order of preference where one work is stored in several
# (bach/bwv277 is both .mxl and .krn; trecento's PMFC_13_01 Kyrie both .mxl and .xml).
# .rntxt files are Roman-numeral analyses, not scores.
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")

# Left out unless named with --music21:
#   palestrina         Humdrum encodings "Copyright 2000, John Miller", with "rights to all
#                      derivative electronic formats reserved" (!!!YEM records in each file)
#   nottingham-dataset the shared corpus already has jukedeck's Nottingham files
#   leadSheet          two files; the Berlin one is marked "All Rights Reserved"
#   demos, theoryExercises  notation tests and exercises, not music
EXCLUDED_BY_DEFAULT = ("palestrina", "nottingham-dataset", "leadSheet", "demos", "theoryExercises")

# GM programs (0-based), listed top voice to bottom.
ENSEMBLES: dict[str, tuple[int, ...]] = {
    "choir": (52,),  # Choir Aahs
    "strings": (40, 40, 41, 42),  # violin, violin, viola, cello
    "organ": (19,),  # church organ
    "woodwinds": (73, 68, 71, 70),  # flute, oboe, clarinet, bassoon
    "brass": (56, 60, 57, 58),  # trumpet, French horn, trombone, tuba
    "piano": (0,),
    "violin": (40,),
    "flute": (73,),
    "whistle": (75,),  # pan flute, the nearest GM sound to a tin whistle
    "accordion": (21,),
    "harmonica": (22,),
    "banjo": (105,),
    "recorder": (74,),
    "clarinet": (71,),
    "oboe": (68,),
    "voice": (53,),  # Voice Oohs
}

# Objects translate.conductorStream moves into the conductor track.
CONTEXT_CLASSES = (meter.TimeSignature, key.KeySignature, tempo.MetronomeMark)

# Channels 1-16 as music21 numbers them, without 10 (GM drums).
MELODIC_CHANNELS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16)

# What music21 documents about its corpus, by the label manifest entries carry; an entry's
# "rights" adds the statement its own file makes, where it makes one.
LICENSES: dict[str, str] = {
    "music21-corpus": (
        "music21 core corpus: the music is believed public domain in the US, EU and Canada, and "
        "the encodings are public domain or distributed by permission; some may not be used "
        "commercially (music21 README 'License Coverage', music21/corpus/license.txt)"
    ),
    "essen-noncommercial": (
        "Essen Folksong Collection, ABC encodings by Seymour Shlien: permission for "
        "non-commercial distribution and use in music21 (music21/corpus/essenFolksong/license.txt)"
    ),
    "humdrum-palestrina": (
        "Humdrum Palestrina encodings, Copyright 2000 John Miller: rights to all derivative "
        "electronic formats reserved; see the licensing agreement named in each file"
    ),
}
COLLECTION_LICENSES = {"essenFolksong": "essen-noncommercial", "palestrina": "humdrum-palestrina"}


@dataclass(frozen=True)
class Collection:
    """How to orchestrate one music21 collection.

    `ensembles` are the choices for parts that name no instrument; `revoice` sends the vocal
    parts there too, so a chorale may come out as strings or brass. `voices_as_tunes` marks
    ABC files whose X: tunes are the voices of one piece (josquin: X:1 Cantus, X:2 Altus, ...).
    """

    ensembles: tuple[str, ...] = ("piano",)
    revoice: bool = False
    voices_as_tunes: bool = False


CHORAL = Collection(("choir", "strings", "organ", "woodwinds", "brass"), revoice=True)
STRINGS = Collection(("strings",))
PIANO = Collection(("piano",))
FOLK = Collection(("violin", "flute", "whistle", "accordion", "harmonica", "banjo"))
SONG = Collection(("voice", "recorder", "flute", "clarinet", "oboe", "violin", "accordion"))
COLLECTIONS: dict[str, Collection] = {
    "bach": CHORAL,
    "ciconia": CHORAL,
    "johnson_j_r": CHORAL,
    "josquin": Collection(CHORAL.ensembles, revoice=True, voices_as_tunes=True),
    "luca": CHORAL,
    "lusitano": CHORAL,
    "monteverdi": CHORAL,
    "palestrina": CHORAL,
    "trecento": CHORAL,
    "beethoven": STRINGS,
    "haydn": STRINGS,
    "corelli": STRINGS,
    "airdsAirs": FOLK,
    "miscFolk": FOLK,
    "nottingham-dataset": FOLK,
    "oneills1850": FOLK,
    "ryansMammoth": FOLK,
    "essenFolksong": SONG,
}


@dataclass(frozen=True)
class Task:
    """One score to convert: a corpus file, and for ABC song books the tune's X: number."""

    collection: str
    relpath: str  # inside music21's corpus directory, with '/'
    number: int | None
    output: str  # inside the output directory, with '/'

    @property
    def source(self) -> str:
        return self.relpath if self.number is None else f"{self.relpath}#X:{self.number}"


@dataclass
class Outcome:
    """What became of one task: a manifest entry, or the reason it was skipped."""

    task: Task
    entry: dict | None = None
    skipped: str | None = None


@dataclass
class Summary:
    """Manifest entries of the files written, and the scores skipped."""

    entries: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def corpus_root() -> Path:
    return Path(music21.common.getCorpusFilePath())


def available_collections() -> list[str]:
    root = corpus_root()
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and any(p.suffix in SCORE_SUFFIXES for p in d.rglob("*"))
    )


def default_collections() -> list[str]:
    return [c for c in available_collections() if c not in EXCLUDED_BY_DEFAULT]


def collection_scores(collection: str) -> list[Path]:
    """The score files of a collection, sorted, one format per work (see SCORE_SUFFIXES)."""
    best: dict[Path, Path] = {}
    for path in (corpus_root() / collection).rglob("*"):
        if path.suffix not in SCORE_SUFFIXES:
            continue
        stem = path.with_suffix("")
        held = best.get(stem)
        if held is None or SCORE_SUFFIXES.index(path.suffix) < SCORE_SUFFIXES.index(held.suffix):
            best[stem] = path
    return sorted(best.values())


def abc_numbers(path: Path) -> list[int]:
    """The X: reference numbers of the tunes in an ABC file, in file order.

    music21 picks a tune by the same "X:<n>" line test (ABCFile.extractReferenceNumber);
    no file in its corpus repeats a number or has a file header before the first X:.
    """
    numbers = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        field_ = line.replace(" ", "").rstrip()
        if field_.startswith("X:") and field_[2:].isdigit():
            numbers.append(int(field_[2:]))
    return numbers


def safe_name(text: str) -> str:
    """A file name from a corpus path: trecento has spaces and parentheses in its names."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def collection_config(collection: str) -> Collection:
    return COLLECTIONS.get(collection, PIANO)


def collection_tasks(collection: str, limit: int | None) -> list[Task]:
    root = corpus_root()
    one_per_file = collection_config(collection).voices_as_tunes
    tasks = []
    for path in collection_scores(collection):
        rel = path.relative_to(root).as_posix()
        name = safe_name(path.relative_to(root / collection).with_suffix("").as_posix())
        numbers = abc_numbers(path) if path.suffix == ".abc" and not one_per_file else [None]
        for number in numbers:
            stem = name if number is None else f"{name}_{number:04d}"
            tasks.append(Task(collection, rel, number, f"music21/{collection}/{stem}.mid"))
    return tasks[:limit]


def plan_tasks(collections: list[str], limit: int | None) -> list[Task]:
    tasks = [t for c in collections for t in collection_tasks(c, limit)]
    outputs = Counter(t.output for t in tasks)
    clashes = [o for o, n in outputs.items() if n > 1]
    assert not clashes, f"two scores map to one output file: {clashes[:3]}"
    return tasks


def parse_task(task: Task) -> stream.Score:
    """Parse one score, never from or into music21's pickle cache (which would make the
    result depend on what an earlier run left behind)."""
    kwargs = {} if task.number is None else {"number": task.number}
    parsed = converter.parse(
        corpus_root() / task.relpath, forceSource=True, storePickle=False, **kwargs
    )
    if isinstance(parsed, stream.Opus) and collection_config(task.collection).voices_as_tunes:
        parsed = parsed.mergeScores()
    if not isinstance(parsed, stream.Score):
        raise ValueError(f"parsed as {type(parsed).__name__}, not a Score")
    return parsed


def drop_empty_parts(score: stream.Score) -> None:
    """Remove parts without notes: multi-voice ABC tunes (miscFolk americanfifeopus X:8) parse
    with empty voices, which would take a channel and break music21's repeat expansion."""
    for part in list(score.parts):
        if not part.flatten().notes:
            score.remove(part)


def unshare_context_objects(score: stream.Score) -> None:
    """Give each measure its own time signature, key and tempo objects.

    music21's ABC parser can put one TimeSignature object into two measures (oneills1850
    X:1, around a one-note 1/16 measure), and translate.conductorStream then fails with
    "already found in this Stream". A copy in the second measure is the same music.
    """
    seen: set[int] = set()
    for container in score.recurse(streamsOnly=True, includeSelf=True):
        for el in list(container.getElementsByClass(CONTEXT_CLASSES)):
            if id(el) in seen:
                container.replace(el, copy.deepcopy(el))
            else:
                seen.add(id(el))


def named_instrument(part: stream.Part, revoice: bool) -> instrument.Instrument | None:
    """The instrument music21 recognises in the part's name, or None.

    Encoders' instrument names are notation-software defaults ("ARIA Player", "Tenor Sax" on
    a trecento voice), so choral collections trust only the part name.
    """
    existing = part.getInstrument(returnDefault=False)
    names = [part.partName]
    if not revoice and existing is not None:
        names.append(existing.instrumentName)
    for name in names:
        if not name:
            continue
        try:
            return instrument.fromString(name)
        except instrument.InstrumentException:
            continue
    return None


def ensemble_program(programs: tuple[int, ...], index: int, count: int) -> int:
    """The program for voice `index` of `count`, top to bottom, spreading the voices over the
    ensemble's registers: 4 voices of strings are violin, violin, viola, cello; 5 put the
    fifth on the cello too; 1 takes the top instrument."""
    if count == 1:
        return programs[0]
    return programs[round(index * (len(programs) - 1) / (count - 1))]


def own_program(part: stream.Part, config: Collection) -> int | None:
    """The program of the instrument the part names, or None if it goes to the ensemble."""
    named = named_instrument(part, config.revoice)
    if named is None or (config.revoice and isinstance(named, instrument.Vocalist)):
        return None
    return named.midiProgram


def part_programs(score: stream.Score, config: Collection, rng: random.Random) -> list[int]:
    """A GM program for each part of the score, in part order."""
    ensemble = ENSEMBLES[rng.choice(config.ensembles)]
    own = [own_program(p, config) for p in score.parts]
    free = [i for i, program in enumerate(own) if program is None]
    for rank, i in enumerate(free):
        own[i] = ensemble_program(ensemble, rank, len(free))
    return own


def set_program(part: stream.Part, program: int) -> None:
    """Replace every instrument in the part with one GM program at its start."""
    for container in part.recurse(streamsOnly=True, includeSelf=True):
        container.removeByClass(instrument.Instrument)
    part.insert(0, instrument.instrumentFromMidiProgram(program))


def orchestrate(score: stream.Score, config: Collection, rng: random.Random) -> list[int]:
    """Set a GM program on every part; return them in part order."""
    programs = part_programs(score, config, rng)
    for part, program in zip(score.parts, programs, strict=True):
        set_program(part, program)
    return programs


def strip_repeats(score: stream.Score) -> None:
    """Remove repeat barlines, endings and D.C./D.S. marks, so the score plays through once."""
    for container in score.recurse(streamsOnly=True, includeSelf=True):
        container.removeByClass((spanner.RepeatBracket, repeat.RepeatExpression))
        if isinstance(container, stream.Measure):
            for side in ("leftBarline", "rightBarline"):
                if isinstance(getattr(container, side), bar.Repeat):
                    setattr(container, side, bar.Barline())


def score_to_midi(score: stream.Score) -> tuple[bytes, bool]:
    """Write the score as SMF bytes, one channel per track (skipping 10, the GM drums).

    music21 plays repeats out; where they are malformed (ExpanderException, e.g. a start
    repeat never closed in ryansMammoth's Abitha Muggins reel) the score is written without
    them. Returns the bytes and whether the repeats were played out.
    """
    try:
        midi_file = translate.streamToMidiFile(score)
        expanded = True
    except repeat.ExpanderException:
        strip_repeats(score)
        midi_file = translate.streamToMidiFile(score)
        expanded = False
    voiced = 0
    for track in midi_file.tracks:
        events = [e for e in track.events if e.type in ChannelVoiceMessages]
        if not events:
            continue  # the conductor track
        channel = MELODIC_CHANNELS[voiced % len(MELODIC_CHANNELS)]
        voiced += 1
        for event in events:
            event.channel = channel
    return midi_file.writestr(), expanded


def score_rights(score: stream.Score) -> str | None:
    """The rights statement the encoding carries (MusicXML <rights>, Humdrum !!!YEC)."""
    rights = score.metadata.copyright if score.metadata is not None else None
    text = str(rights).strip() if rights is not None else ""
    # Some files carry only an empty "Copyright © " template.
    return None if re.fullmatch(r"(Copyright)?\s*©?", text) else text


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def skip_reason(error: Exception) -> str:
    """One line for the manifest, without the memory addresses music21 puts in messages
    (they would differ between runs)."""
    message = re.sub(r"0x[0-9a-fA-F]+|id\(\)=\d+", "...", str(error)).splitlines()
    return f"{type(error).__name__}: {message[0][:200] if message else ''}"


def build_score(task: Task, out_dir: Path) -> Outcome:
    """Parse, orchestrate and write one score (runs in a worker process)."""
    warnings.simplefilter("ignore")  # music21 warns per odd measure; skips are counted instead
    try:
        score = parse_task(task)
        drop_empty_parts(score)
        if not score.parts:
            return Outcome(task, skipped="no notes")
        unshare_context_objects(score)
        config = collection_config(task.collection)
        programs = orchestrate(score, config, random.Random(f"{SEED}:{task.source}"))
        data, expanded = score_to_midi(score)
    except Exception as error:  # music21 raises many unrelated types on odd scores
        return Outcome(task, skipped=skip_reason(error))
    write_atomic(out_dir / task.output, data)
    entry = {
        "path": task.output,
        "source": f"music21:{task.source}",
        "license": COLLECTION_LICENSES.get(task.collection, "music21-corpus"),
        "rights": score_rights(score),
        "programs": programs,
        "repeats_expanded": expanded,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    return Outcome(task, entry=entry)


def run_tasks(tasks: list[Task], out_dir: Path, jobs: int) -> Iterator[Outcome]:
    if jobs == 1:
        yield from (build_score(t, out_dir) for t in tasks)
        return
    with multiprocessing.Pool(jobs) as pool:
        # chunksize 1: a quartet movement takes seconds, a folk tune a tenth of one.
        yield from pool.imap_unordered(_build_score_star, [(t, out_dir) for t in tasks])


def _build_score_star(args: tuple[Task, Path]) -> Outcome:
    return build_score(*args)


def build_music21(tasks: list[Task], out_dir: Path, jobs: int, summary: Summary) -> None:
    for outcome in tqdm(run_tasks(tasks, out_dir, jobs), total=len(tasks), desc="music21"):
        if outcome.entry is not None:
            summary.entries.append(outcome.entry)
        else:
            reason = outcome.skipped
            summary.skipped.append({"source": f"music21:{outcome.task.source}", "reason": reason})


def shared_licenses(shared_dir: Path) -> dict[str, dict]:
    """The shared manifest's entries for the folder, by file name ({} without a manifest)."""
    manifest = shared_dir.parent / "MANIFEST.json"
    if not manifest.is_file():
        return {}
    files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    return {f["name"]: f for f in files if f.get("folder") == shared_dir.name}


def shared_entry(name: str, data: bytes, known: dict | None) -> dict:
    if known is None:
        source, license_ = f"shared/{name}", "unknown: not in the shared MANIFEST.json"
    else:
        origin = known["source"]
        source = f"{origin['repo']}/{origin['path']}@{origin['commit']}"
        license_ = known["license"]
    return {
        "path": f"shared/{name}",
        "source": source,
        "license": license_,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }


def copy_shared(shared_dir: Path, out_dir: Path, limit: int | None, summary: Summary) -> None:
    """Copy the shared MIDI files unchanged, with source and licence from their manifest."""
    known = shared_licenses(shared_dir)
    paths = sorted(p for p in shared_dir.iterdir() if p.suffix.lower() in (".mid", ".midi"))
    for path in tqdm(paths[:limit], desc="shared"):
        data = path.read_bytes()
        entry = shared_entry(path.name, data, known.get(path.name))
        if path.name in known and known[path.name]["sha256"] != entry["sha256"]:
            print(f"warning: {path} differs from its shared MANIFEST.json sha256", file=sys.stderr)
        write_atomic(out_dir / entry["path"], data)
        summary.entries.append(entry)


def prune_stale(out_dir: Path, summary: Summary) -> int:
    """Delete .mid files an earlier build left in our folders that this one did not write."""
    wanted = {e["path"] for e in summary.entries}
    stale = [
        p
        for folder in ("music21", "shared")
        for p in sorted((out_dir / folder).rglob("*.mid"))
        if p.relative_to(out_dir).as_posix() not in wanted
    ]
    for path in stale:
        path.unlink()
    return len(stale)


def summary_block(summary: Summary) -> dict:
    by_source = Counter(
        "/".join(e["path"].split("/")[:2]) if e["path"].startswith("music21/") else "shared"
        for e in summary.entries
    )
    return {
        "files": len(summary.entries),
        "bytes": sum(e["bytes"] for e in summary.entries),
        "by_source": dict(sorted(by_source.items())),
        "skipped": len(summary.skipped),
        "skipped_scores": sorted(summary.skipped, key=lambda s: s["source"]),
        "licenses": LICENSES,
        "music21_version": music21.__version__,
        "seed": SEED,
    }


def write_manifest(out_dir: Path, summary: Summary) -> dict:
    block = summary_block(summary)
    manifest = {
        "description": "Training corpus for midigen, written by scripts/build_corpus.py.",
        "summary": block,
        "files": sorted(summary.entries, key=lambda e: e["path"]),
    }
    text = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    write_atomic(out_dir / "MANIFEST.json", text.encode("utf-8"))
    return block


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="corpus directory")
    parser.add_argument(
        "--music21",
        help="comma-separated music21 collections (default: all but "
        + ", ".join(EXCLUDED_BY_DEFAULT)
        + "); an empty string takes none",
    )
    parser.add_argument("--limit", type=int, help="at most N files per collection and shared")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared MIDI folder")
    parser.add_argument("--no-shared", action="store_true", help="leave the shared files out")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    return parser.parse_args(argv)


def chosen_collections(spec: str | None) -> list[str]:
    if spec is None:
        return default_collections()
    names = [n for n in spec.split(",") if n]
    unknown = sorted(set(names) - set(available_collections()))
    if unknown:
        sys.exit(
            f"error: unknown music21 collection(s) {', '.join(unknown)}; "
            f"available: {', '.join(available_collections())}"
        )
    return sorted(set(names))


def report(block: dict, pruned: int, seconds: float) -> None:
    for source, count in block["by_source"].items():
        print(f"{source:32} {count:6}")
    print(f"{'total':32} {block['files']:6}  ({block['bytes'] / 1e6:.1f} MB)")
    print(f"skipped {block['skipped']} scores (reasons in MANIFEST.json), pruned {pruned} stale")
    print(f"took {seconds:.0f} s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    summary = Summary()
    tasks = plan_tasks(chosen_collections(args.music21), args.limit)
    build_music21(tasks, args.output, max(1, args.jobs), summary)
    if not args.no_shared:
        if args.shared.is_dir():
            copy_shared(args.shared, args.output, args.limit, summary)
        else:
            print(f"note: no shared corpus at {args.shared}, skipping it", file=sys.stderr)
    pruned = prune_stale(args.output, summary)
    block = write_manifest(args.output, summary)
    report(block, pruned, time.monotonic() - started)


if __name__ == "__main__":
    main()
