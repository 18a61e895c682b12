"""Build the default model's training corpus in style folders -> CORPUS/<style>/.

midigen's shipped default model (an LSTM on multi-instrument music with drums) is trained on
this corpus with `midigen prepare CORPUS -o DATA --styles`, which makes each first-level
folder a STYLE_ token the model is conditioned on. It needs music21 (`pip install -e
'.[corpus]'` or `pip install music21`), whose pip package bundles its scores, so nothing is
downloaded; the MIDI files come from the shared corpus (scripts/shared_corpus.py).

Usage:

    python scripts/build_corpus.py -o corpus/
    python scripts/build_corpus.py -o corpus/ --styles classical --music21 bach --limit 20
    python scripts/build_corpus.py -o corpus/ --styles pop,folk,band,piano   # no music21 work

Produces:

    CORPUS/pop/<name>.mid        SHARED/train/pop909, copied byte for byte (POP909, MIT)
    CORPUS/folk/<name>.mid       SHARED/train/folk, copied byte for byte (Nottingham tunes)
    CORPUS/classical/<collection>/<name>.mid
                                 music21's bundled scores, orchestrated and written as MIDI
    CORPUS/band/<name>.mid       SHARED/real files with drums and 2+ melodic programs
    CORPUS/piano/<name>.mid      SHARED/real files whose notes are all piano (programs 0-7)
    CORPUS/MANIFEST.json         per file: path, style, source, licence, sha256, bytes (music21
                                 files: also rights, GM programs); a summary: counts per style,
                                 skipped files with reasons, licence texts

SHARED/real is also the project's test corpus, and part of it is held out (HELD_OUT): its
POP909 songs and Nottingham tunes evaluate the pop and folk styles, so they are never trained
on, and jazz-soft's test files are synthetic, not music. Real files that are neither band nor
piano, test material that is not music (shared_corpus.not_music), and files that do not
parse, are skipped and listed with the reason.

Velocities are kept as the sources have them. Nottingham tunes and music21 scores carry one
constant velocity (no dynamics). Because each style folder becomes a STYLE_ token, a flat
velocity is learned as part of the folk and classical styles and does not dilute the
dynamics of pop and band; and the held-out Nottingham tunes are constant-velocity too, so
invented dynamics would cost bits exactly where the folk style is measured.

The music21 collections are all those in the installed package but EXCLUDED_BY_DEFAULT (see
there why); --limit N keeps the first N files of each collection and of each shared folder.

Most music21 scores name their parts but carry no usable GM program (the Haydn quartets say
"Acoustic Grand Piano" for the violins), so every part gets one here. A part whose name music21
recognises as an instrument keeps that instrument ("Violin I", "Horn 2", "Piano"). The others,
and in choral collections the voices too, take the instruments of an ensemble (choir, strings,
organ, woodwinds or brass), chosen per score, top voice to bottom. Folk tunes get a melody
instrument chosen per tune. Each part then gets its own MIDI channel: music21 gives parts with
equal programs one shared channel.

CORPUS belongs to this script: every MIDI file in it that a run does not write is deleted,
because `prepare` would train on it. The output is reproducible: inputs are sorted, every
choice comes from a random.Random seeded with SEED and the score's corpus path, and
MANIFEST.json has no timestamps. Two runs with the same music21 version write byte-identical
files.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
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

import mido
from shared_corpus import not_music, shared_corpus
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
STYLES = ("pop", "folk", "classical", "band", "piano")
MIDI_SUFFIXES = (".mid", ".midi")

# The shared training folders copied whole, by style (SHARED/train/MANIFEST.json has their
# sources and licences).
TRAIN_FOLDERS = {"pop": "pop909", "folk": "folk"}

# Files of SHARED/real that are never trained on, and why (the reason goes into the
# manifest's skipped list), by the repository the shared MANIFEST.json names as a file's
# source, or by the dataset its licence text names as the file's origin: MidiTok's test
# files include POP909 songs ("file from the POP909 dataset").
HELD_OUT = {
    "music-x-lab/POP909-Dataset": "held out: POP909 songs evaluate the pop style",
    "POP909 dataset": "held out: POP909 songs evaluate the pop style",
    "jukedeck/nottingham-dataset": "held out: Nottingham tunes evaluate the folk style",
    "jazz-soft/test-midi-files": "held out: synthetic test file, not music",
}

DRUM_CHANNEL = 9  # GM channel 10, counted from 0
PIANO_PROGRAMS = range(0, 8)  # GM 1 piano family

# Score formats music21 parses, in order of preference where one work is stored in several
# (bach/bwv277 is both .mxl and .krn; trecento's PMFC_13_01 Kyrie both .mxl and .xml).
# .rntxt files are Roman-numeral analyses, not scores.
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")

# Left out unless named with --music21:
#   palestrina         Humdrum encodings "Copyright 2000, John Miller", with "rights to all
#                      derivative electronic formats reserved" (!!!YEM records in each file)
#   leadSheet          two files; the Berlin one is marked "All Rights Reserved"
#   demos, theoryExercises  notation tests and exercises, not music
#   airdsAirs, essenFolksong, miscFolk, nottingham-dataset, oneills1850, ryansMammoth
#                      folk tunes: the folk style is SHARED/train/folk, the Nottingham tunes,
#                      which its held-out tunes evaluate; other traditions would blur it
EXCLUDED_BY_DEFAULT = (
    "palestrina",
    "leadSheet",
    "demos",
    "theoryExercises",
    "airdsAirs",
    "essenFolksong",
    "miscFolk",
    "nottingham-dataset",
    "oneills1850",
    "ryansMammoth",
)

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
    """How to orchestrate one music21 collection, and the style folder it goes to.

    `ensembles` are the choices for parts that name no instrument; `revoice` sends the vocal
    parts there too, so a chorale may come out as strings or brass. `voices_as_tunes` marks
    ABC files whose X: tunes are the voices of one piece (josquin: X:1 Cantus, X:2 Altus, ...).
    """

    ensembles: tuple[str, ...] = ("piano",)
    revoice: bool = False
    voices_as_tunes: bool = False
    style: str = "classical"


CHORAL = Collection(("choir", "strings", "organ", "woodwinds", "brass"), revoice=True)
STRINGS = Collection(("strings",))
PIANO = Collection(("piano",))
FOLK = Collection(("violin", "flute", "whistle", "accordion", "harmonica", "banjo"), style="folk")
SONG = Collection(
    ("voice", "recorder", "flute", "clarinet", "oboe", "violin", "accordion"), style="folk"
)
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
            output = f"{collection_config(collection).style}/{collection}/{stem}.mid"
            tasks.append(Task(collection, rel, number, output))
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
        "style": config.style,
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


def midi_files(folder: Path, limit: int | None) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in MIDI_SUFFIXES)[:limit]


def manifest_sources(manifest: Path, folder: str) -> dict[str, dict]:
    """A shared MANIFEST.json's entries for files in `folder`, by file name.

    The root manifest names files per folder ("name": "x.mid", "folder": "real"), the train
    manifest by path ("name": "pop909/004.mid").
    """
    if not manifest.is_file():
        sys.exit(f"error: no {manifest}; it gives the sources, licences and held-out files")
    by_name = {}
    for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
        parent, _, name = entry["name"].rpartition("/")
        if (entry.get("folder") or parent) == folder:
            by_name[name] = entry
    return by_name


def copy_entry(path: str, style: str, data: bytes, known: dict | None) -> dict:
    if known is None:
        source, license_ = f"shared:{path}", "unknown: not in the shared MANIFEST.json"
    else:
        origin = known["source"]
        source = f"{origin['repo']}/{origin['path']}@{origin['commit']}"
        license_ = known["license"]
    return {
        "path": path,
        "style": style,
        "source": source,
        "license": license_,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }


def copy_file(src: Path, path: str, style: str, known: dict | None, out_dir: Path) -> dict:
    """Copy one shared MIDI file unchanged; return its manifest entry."""
    data = src.read_bytes()
    entry = copy_entry(path, style, data, known)
    if known is not None and known["sha256"] != entry["sha256"]:
        print(f"warning: {src} differs from its shared MANIFEST.json sha256", file=sys.stderr)
    write_atomic(out_dir / path, data)
    return entry


def copy_train(
    style: str, shared: Path, out_dir: Path, limit: int | None, summary: Summary
) -> None:
    """Copy a shared training folder whole into the style's folder."""
    folder = shared / "train" / TRAIN_FOLDERS[style]
    known = manifest_sources(shared / "train" / "MANIFEST.json", folder.name)
    for src in tqdm(midi_files(folder, limit), desc=style):
        path = f"{style}/{src.name}"
        summary.entries.append(copy_file(src, path, style, known.get(src.name), out_dir))


def real_style(name: str, data: bytes) -> tuple[str | None, str]:
    """The style the real file ``name`` goes to, "band" or "piano", or None and the
    reason (test material that is not music, shared_corpus.not_music, goes to neither).

    A note plays the program its channel last changed to (0 before any change, the GM
    default); notes on channel 10 are the drum kit whatever its program.
    """
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
        messages = list(mido.merge_tracks(midi.tracks))
    except Exception as error:  # mido raises OSError, EOFError, ValueError, KeyError, ...
        return None, f"unreadable: {type(error).__name__}: {str(error)[:200]}"
    program = [0] * 16
    programs: set[int] = set()
    drums = False
    notes = 0
    for msg in messages:
        if msg.type == "program_change":
            program[msg.channel] = msg.program
        elif msg.type == "note_on" and msg.velocity > 0:
            notes += 1
            if msg.channel == DRUM_CHANNEL:
                drums = True
            else:
                programs.add(program[msg.channel])
    if reason := not_music(name, notes):
        return None, reason
    if drums and len(programs) >= 2:
        return "band", ""
    if not drums and programs and programs <= set(PIANO_PROGRAMS):
        return "piano", ""
    found = ", ".join(map(str, sorted(programs))) or "none"
    if drums:
        return None, f"drums with fewer than 2 melodic programs (programs: {found})"
    return None, f"no drums and not all piano (programs: {found})"


def held_out_reason(entry: dict) -> str | None:
    """Why a real file (its shared MANIFEST.json entry) is held out, or None."""
    if entry["source"]["repo"] in HELD_OUT:
        return HELD_OUT[entry["source"]["repo"]]
    return next((why for name, why in HELD_OUT.items() if name in entry["license"]), None)


def copy_real(
    styles: list[str], shared: Path, out_dir: Path, limit: int | None, summary: Summary
) -> None:
    """Sort the shared real files into band and piano; skip the held-out and the rest."""
    folder = shared / "real"
    known = manifest_sources(shared / "MANIFEST.json", folder.name)
    for src in tqdm(midi_files(folder, limit), desc="real"):
        entry = known.get(src.name)
        reason = held_out_reason(entry) if entry is not None else None
        style = None
        if reason is None:
            style, reason = real_style(src.name, src.read_bytes())
        if style is None:
            summary.skipped.append({"source": f"real/{src.name}", "reason": reason})
        elif style in styles:
            summary.entries.append(copy_file(src, f"{style}/{src.name}", style, entry, out_dir))


def held_out_sources(shared: Path) -> set[str]:
    """sha256 and repo/path of every held-out real file."""
    entries = manifest_sources(shared / "MANIFEST.json", "real").values()
    held = [e for e in entries if held_out_reason(e) is not None]
    return {e["sha256"] for e in held} | {
        f"{e['source']['repo']}/{e['source']['path']}" for e in held
    }


def check_held_out(summary: Summary, shared: Path) -> None:
    """Fail if a training file is a held-out file under another name."""
    held = held_out_sources(shared)
    leaked = [
        e["path"]
        for e in summary.entries
        if e["sha256"] in held or e["source"].partition("@")[0] in held
    ]
    if leaked:
        sys.exit(f"error: held-out files in the training corpus: {', '.join(leaked[:5])}")


def check_output(out_dir: Path) -> None:
    """Refuse to prune a folder this script did not write (a mistyped -o)."""
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "MANIFEST.json").exists():
        sys.exit(f"error: {out_dir} is not empty and has no MANIFEST.json; choose another -o")


def prune_stale(out_dir: Path, summary: Summary) -> int:
    """Delete MIDI files an earlier build left that this one did not write, then empty
    folders: prepare would train on them, and their folders would become styles."""
    wanted = {e["path"] for e in summary.entries}
    stale = [
        p
        for p in sorted(out_dir.rglob("*"))
        if p.suffix.lower() in MIDI_SUFFIXES and p.relative_to(out_dir).as_posix() not in wanted
    ]
    for path in stale:
        path.unlink()
    for folder in sorted((p for p in out_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return len(stale)


def summary_block(summary: Summary) -> dict:
    by_style = Counter(e["style"] for e in summary.entries)
    reasons = Counter(s["reason"].partition(" (")[0] for s in summary.skipped)
    return {
        "files": len(summary.entries),
        "bytes": sum(e["bytes"] for e in summary.entries),
        "by_style": dict(sorted(by_style.items())),
        "skipped": len(summary.skipped),
        "skipped_by_reason": dict(sorted(reasons.items())),
        "skipped_files": sorted(summary.skipped, key=lambda s: s["source"]),
        "licenses": LICENSES,
        "music21_version": music21.__version__,
        "seed": SEED,
    }


def write_manifest(out_dir: Path, summary: Summary) -> dict:
    block = summary_block(summary)
    manifest = {
        "description": "Training corpus for midigen in style folders, "
        "written by scripts/build_corpus.py.",
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
        "--styles",
        default=",".join(STYLES),
        help=f"comma-separated style folders to build (default: {','.join(STYLES)})",
    )
    parser.add_argument(
        "--music21",
        help="comma-separated music21 collections (default: all but "
        + ", ".join(EXCLUDED_BY_DEFAULT)
        + "); an empty string takes none",
    )
    parser.add_argument("--limit", type=int, help="at most N files per collection and folder")
    parser.add_argument(
        "--shared", type=Path, default=shared_corpus(), help="shared corpus (real/, train/)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    return parser.parse_args(argv)


def chosen_styles(spec: str) -> list[str]:
    names = [n for n in spec.split(",") if n]
    unknown = sorted(set(names) - set(STYLES))
    if unknown:
        sys.exit(f"error: unknown style(s) {', '.join(unknown)}; available: {', '.join(STYLES)}")
    return names


def chosen_collections(spec: str | None, styles: list[str]) -> list[str]:
    """The music21 collections asked for whose style is being built."""
    if spec is None:
        names = default_collections()
    else:
        names = sorted({n for n in spec.split(",") if n})
        unknown = sorted(set(names) - set(available_collections()))
        if unknown:
            sys.exit(
                f"error: unknown music21 collection(s) {', '.join(unknown)}; "
                f"available: {', '.join(available_collections())}"
            )
    return [n for n in names if collection_config(n).style in styles]


def report(block: dict, pruned: int, seconds: float) -> None:
    for style, count in block["by_style"].items():
        print(f"{style:40} {count:6}")
    print(f"{'total':40} {block['files']:6}  ({block['bytes'] / 1e6:.1f} MB)")
    print(f"skipped {block['skipped']} (details in MANIFEST.json):")
    for reason, count in block["skipped_by_reason"].items():
        print(f"{count:6}  {reason}")
    print(f"pruned {pruned} stale files; took {seconds:.0f} s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    styles = chosen_styles(args.styles)
    check_output(args.output)
    summary = Summary()
    for style in TRAIN_FOLDERS:
        if style in styles:
            copy_train(style, args.shared, args.output, args.limit, summary)
    if "band" in styles or "piano" in styles:
        copy_real(styles, args.shared, args.output, args.limit, summary)
    tasks = plan_tasks(chosen_collections(args.music21, styles), args.limit)
    build_music21(tasks, args.output, max(1, args.jobs), summary)
    check_held_out(summary, args.shared)
    pruned = prune_stale(args.output, summary)
    block = write_manifest(args.output, summary)
    report(block, pruned, time.monotonic() - started)


if __name__ == "__main__":
    main()
