"""corpus -> DATASET/: token ids ready for training, split by file, augmented; and back.

A dataset folder holds::

    vocab.json           the tokens; a token's id is its position (vocab.py)
    meta.json            scheme, options, every file with its split, counts, and
                         the velocity each VEL bin decodes to (velocity_table)
    train.npy valid.npy  token ids of the pieces back to back (memory-mappable)
    train_pieces.npy     one row per piece: offset, length, notes
    valid_pieces.npy

Every piece ends with ``<eos>``, so a batch never runs from one piece into
the next without a separator.  The split goes by a hash of each file's
bytes: it does not change when the corpus is prepared again or grows, and
two copies of one file cannot land on both sides.  Transposition augments the
training split only, and never moves drums (DRUM_ tokens are not NOTE_
tokens).  The same inputs give byte-identical arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from ..errors import MidiError
from ..fileio import MIDI_SUFFIXES, TEXT_SUFFIXES, Job, find_inputs, read_regular, umask
from ..midi.reader import MAX_FILE_BYTES, read
from ..midi.song import Song
from ..tokens import grammar, text_to_tokens, tokenize
from ..tokens.grammar import STYLE_PREFIX, style_name
from ..tokens.vocab import EOS, UNK_ID, Vocab
from ..workers import process_map
from .openings import Opening, read_opening, style_instruments, style_quantiles

SCHEMES = ("event", "chunk", "text")
TEXT_PIECE_TOKENS = 1024  # a long text breaks into pieces of about this many tokens
FORMAT = "midigen-dataset"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PrepareConfig:
    """What `midigen prepare` was asked; saved in meta.json as is."""

    scheme: str = "event"
    valid_fraction: float = 0.05
    transpose: tuple[int, int] = (0, 0)
    min_count: int = 1
    styles: bool = False  # a file's first-level folder names its style (event scheme)


@dataclass
class Piece:
    """One input file, tokenized (or the reason it could not be)."""

    path: str
    style: str | None = None
    sha256: str = ""
    tokens: list[str] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)  # token offsets where a new piece starts
    notes: int = 0
    velocities: list[int] = field(default_factory=list)  # how many notes had each velocity
    opening: Opening = field(default_factory=Opening)  # what it is like (event scheme)
    repairs: list[str] = field(default_factory=list)  # what the tolerant reader mended
    error: str | None = None


@dataclass
class PrepareReport:
    """What prepare did, for the command line to show."""

    files: int
    skipped: list[Piece]
    repaired: list[Piece]  # read and kept, with repairs (a missing End of Track...)
    counts: dict[str, dict[str, int]]
    vocab_size: int


def prepare(
    inputs: list[str | Path],
    output: str | Path,
    config: PrepareConfig,
    jobs: int = 1,
    progress: Callable[[int], Iterator] | None = None,
    vocab: Vocab | None = None,
) -> PrepareReport:
    """Tokenize a corpus and write DATASET/ (atomically: a finished folder or none).

    ``progress``, if given, wraps the iterator of finished files (a tqdm bar).
    ``vocab``, if given, is used instead of one built from the corpus (to
    score new files with a trained model's vocabulary).

    Raises:
        MidiError: no input files, an unknown scheme, bad options, or no file
            could be read at all.
    """
    _check_config(config)
    suffixes = TEXT_SUFFIXES if config.scheme == "text" else MIDI_SUFFIXES + TEXT_SUFFIXES
    jobs_found = find_inputs(inputs, suffixes)
    if not jobs_found:
        raise MidiError(f"no input files found in {', '.join(map(str, inputs))}")
    paths = [str(job.source) for job in jobs_found]
    styles = [_style(job.relative) if config.styles else None for job in jobs_found]
    if config.styles:
        _check_style_folders(jobs_found)
    bars = vocab is None or grammar.has_bar_lines(vocab.ids)
    pieces = list(_load_all(paths, styles, config.scheme, bars, jobs, progress))
    good = [piece for piece in pieces if piece.error is None]
    if not good:
        first = next(p for p in pieces if p.error)
        raise MidiError(f"none of the {len(pieces)} files could be read; first: {first.error}")
    splits = _split(good, config.valid_fraction)
    if vocab is None:
        vocab = _vocabulary(config, [p for p, s in zip(good, splits, strict=True) if s == "train"])
    counts = _write(output, config, vocab, good, splits)
    skipped = [piece for piece in pieces if piece.error]
    repaired = [piece for piece in good if piece.repairs]
    return PrepareReport(len(pieces), skipped, repaired, counts, len(vocab))


def check_transposition(low: int, high: int) -> None:
    """Raises MidiError unless LO..HI holds 0 and stays within two octaves either way."""
    if low > high or not -24 <= low <= 0 <= high <= 24:
        raise MidiError("transposition must be LO..HI with -24 <= LO <= 0 <= HI <= 24")


def _check_config(config: PrepareConfig) -> None:
    if config.scheme not in SCHEMES:
        raise MidiError(f"unknown scheme {config.scheme!r}; choose from {', '.join(SCHEMES)}")
    if not 0 <= config.valid_fraction < 1:
        raise MidiError("the validation fraction must be in [0, 1)")
    low, high = config.transpose
    check_transposition(low, high)
    if (low, high) != (0, 0) and config.scheme != "event":
        raise MidiError("transposition needs the event scheme (it moves NOTE_ tokens)")
    if config.styles and config.scheme != "event":
        raise MidiError("styles need the event scheme (they are STYLE_ tokens after its header)")


# -- reading ---------------------------------------------------------------------


def _style(relative: Path) -> str | None:
    """The style of a file: its first-level folder under the corpus (None directly in it)."""
    if len(relative.parts) < 2:
        return None
    return style_name(relative.parts[0])


def _check_style_folders(jobs: list[Job]) -> None:
    """Raises MidiError where two folders would be one style ("a b" and "a-b")."""
    folders: dict[str, str] = {}
    for job in jobs:
        if len(job.relative.parts) < 2:
            continue
        folder = job.relative.parts[0]
        other = folders.setdefault(style_name(folder), folder)
        if other != folder:
            raise MidiError(
                f"folders {other!r} and {folder!r} would both be style {style_name(folder)}: "
                "rename one"
            )


def _load_all(
    paths: list[str], styles: list[str | None], scheme: str, bars: bool, jobs: int, progress
) -> Iterator[Piece]:
    wrap = progress or (lambda iterator, total: iterator)
    work = [(path, style, scheme, bars) for path, style in zip(paths, styles, strict=True)]
    if jobs == 1 or len(paths) == 1:
        yield from wrap(map(_load_piece, work), len(paths))
        return
    yield from wrap(process_map(_load_piece, work, jobs or os.cpu_count() or 1), len(paths))


def _load_piece(work: tuple[str, str | None, str, bool]) -> Piece:
    """Read one file into tokens: MIDI, token text of the scheme, or word text.

    A style becomes a STYLE_ token right after the event header; ``bars``
    says whether event tokens mark bar lines.
    """
    path, style, scheme, bars = work
    piece = Piece(path, style=style)
    try:
        data = read_regular(path, MAX_FILE_BYTES)  # never blocks on a FIFO, never reads forever
        piece.sha256 = hashlib.sha256(data).hexdigest()
        if scheme == "text":
            piece.tokens, piece.breaks = _word_tokens(data, path)
        else:
            song, tokens = _song_tokens(data, path, scheme, bars)
            if style is not None:
                tokens.insert(1, STYLE_PREFIX + style)
            piece.tokens = tokens + [EOS]
            piece.repairs = [str(warning.with_path(path)) for warning in song.warnings]
            piece.velocities = velocity_counts(song)
            piece.notes = sum(piece.velocities)
            if scheme == "event":
                piece.opening = read_opening(tokens)
    except MidiError as error:
        piece.error = str(error.with_path(path))
    return piece


def _word_tokens(data: bytes, path: str) -> tuple[list[str], list[int]]:
    """Whitespace-separated words, ``<eos>`` after every non-empty line; and where pieces break.

    A book is one file but should not be one piece: a piece fills one batch
    column, so a single long text would train one column in 32.  Pieces
    break at paragraphs (blank lines), and at the first line end once a
    piece holds TEXT_PIECE_TOKENS.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MidiError(f"not UTF-8 text (byte {error.start})", path=path) from None
    tokens: list[str] = []
    breaks: list[int] = []
    start = 0  # where the current piece began
    for line in text.splitlines():
        words = line.split()
        if words:
            tokens += words
            tokens.append(EOS)
        if len(tokens) > start and (not words or len(tokens) - start >= TEXT_PIECE_TOKENS):
            breaks.append(len(tokens))
            start = len(tokens)
    return tokens, [b for b in breaks if b < len(tokens)]


def _song_tokens(data: bytes, path: str, scheme: str, bars: bool) -> tuple[Song, list[str]]:
    """MIDI bytes, or token text midigen wrote, as tokens of the scheme."""
    from ..tokens import detokenize

    head = data[:16]
    if head.startswith((b"MTHD_", grammar.HEADER.encode())):
        try:
            tokens = text_to_tokens(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise MidiError("not UTF-8 token text", path=path) from None
        song = detokenize(tokens)
        if tokens[0].startswith("MTHD_") != (scheme == "chunk"):
            tokens = tokenize(song, scheme, bars)
        return song, tokens
    if path.lower().endswith(TEXT_SUFFIXES) and not head.startswith((b"MThd", b"RIFF")):
        raise MidiError(
            f"not token text: it starts with {head[:8]!r}, where midigen's starts with "
            f"{grammar.HEADER} or MTHD_",
            path=path,
        )
    song = read(data)
    return song, tokenize(song, scheme, bars)


def velocity_counts(song: Song) -> list[int]:
    """How many note-ons with a velocity (the notes a listener hears) have each velocity 0..127."""
    counts = [0] * 128
    for track in song.tracks:
        for _, status, data, _ in track.rows:
            if status & 0xF0 == 0x90 and status < 0xF0 and data[1]:
                counts[data[1]] += 1
    return counts


def velocity_table(counts: list[int]) -> list[int]:
    """The velocity each VEL bin decodes to: the one its notes played most, else its middle.

    A bin spans 8 velocities, and its middle is rarely what a source played:
    scores exported at a constant 90 would come back as 92, hymn-book 64 as
    68.  The most common velocity in each bin of the training notes gives a
    model's pieces the velocities its corpus had.
    """
    table = list(grammar.BIN_MIDDLES)
    most = [0] * grammar.VELOCITY_BINS  # notes of the velocity chosen so far, per bin
    for velocity, notes in enumerate(counts):
        bin_ = grammar.velocity_bin(velocity)
        if notes > most[bin_]:  # a tie keeps the softer velocity
            most[bin_], table[bin_] = notes, velocity
    return table


# -- split and vocabulary ------------------------------------------------------------


def split_position(sha256: str) -> float:
    """Where a file's content hash falls in [0, 1): below the validation fraction is "valid"."""
    return int(sha256[:16], 16) / 2**64


def lopsided_split(train_tokens: int, valid_tokens: int) -> str | None:
    """A warning where the validation split outweighs the training split: the split is by
    file, so a corpus of a few files can hold out most of itself (two text files: 78% of
    the tokens held out, with --valid-fraction 0.05, and a model of the other file)."""
    if valid_tokens <= train_tokens:
        return None
    return (
        f"the validation split holds more tokens than the training split "
        f"({valid_tokens:,} against {train_tokens:,}): files go whole to one split, so "
        "with a few files add more (or `prepare --valid-fraction 0` them to train on all)"
    )


def _split(pieces: list[Piece], valid_fraction: float) -> list[str]:
    """ "valid" for files whose content hash falls below the fraction, else "train".

    A corpus too small for the fraction to pick any file still gets one
    validation file (the lowest hash), so training can measure itself.
    """
    positions = [split_position(piece.sha256) for piece in pieces]
    splits = ["valid" if x < valid_fraction else "train" for x in positions]
    if valid_fraction > 0 and "valid" not in splits and len(pieces) > 1:
        splits[positions.index(min(positions))] = "valid"
    return splits


def _vocabulary(config: PrepareConfig, train: list[Piece]) -> Vocab:
    if config.scheme == "event":
        styles = sorted({STYLE_PREFIX + p.style for p in train if p.style is not None})
        return Vocab.fixed([*grammar.vocabulary(), *styles])
    counts: Counter[str] = Counter()
    for piece in train:
        counts.update(piece.tokens)
    return Vocab.counted(counts, config.min_count)


def transposition_tables(vocab: Vocab, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(id -> id moved by ``shift`` semitones, id -> whether it would leave 0..127)."""
    table = np.arange(len(vocab), dtype=np.int64)
    leaves = np.zeros(len(vocab), dtype=bool)
    for pitch in range(128):
        source = vocab.ids.get(f"NOTE_{pitch}")
        if source is None:
            continue
        target = vocab.ids.get(f"NOTE_{pitch + shift}")
        if target is None:
            leaves[source] = True
        else:
            table[source] = target
    return table, leaves


# -- writing ---------------------------------------------------------------------------


def _write(
    output: str | Path, config: PrepareConfig, vocab: Vocab, pieces: list[Piece], splits: list[str]
) -> dict[str, dict[str, int]]:
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
        os.chmod(staging, 0o777 & ~umask())
    except OSError as error:
        raise MidiError(f"cannot write: {error.strerror or error}", path=output) from error
    try:
        ids = [vocab.tokens_to_ids(piece.tokens) for piece in pieces]
        shifts = (
            [s for s in range(config.transpose[0], config.transpose[1] + 1) if s]
            if (config.scheme == "event")
            else []
        )
        counts = {}
        for split in ("train", "valid"):
            members = [k for k, s in enumerate(splits) if s == split]
            copies = _copies(members, ids, pieces, vocab, shifts if split == "train" else [])
            counts[split] = _write_split(staging, split, copies, ids, pieces, vocab.dtype)
        vocab.save(staging / "vocab.json")
        meta = _meta(config, vocab, pieces, splits, counts)
        (staging / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
        _replace_folder(staging, output)
    except OSError as error:  # a full disk or a folder we may not write: nothing half-written
        shutil.rmtree(staging, ignore_errors=True)
        raise MidiError(f"cannot write: {error.strerror or error}", path=output) from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


def _copies(
    members: list[int], ids: list[np.ndarray], pieces: list[Piece], vocab: Vocab, shifts: list[int]
) -> list[tuple[int, np.ndarray | None, int]]:
    """(piece index, transposition table or None, notes) for every copy to write."""
    copies = [(k, None, pieces[k].notes) for k in members]
    for shift in shifts:
        table, leaves = transposition_tables(vocab, shift)
        copies += [(k, table, pieces[k].notes) for k in members if not leaves[ids[k]].any()]
    return copies


def _write_split(
    folder: Path, split: str, copies: list, ids: list[np.ndarray], pieces: list[Piece], dtype
) -> dict[str, int]:
    """One row per piece: a file, or each part of a long text file (see ``_word_tokens``)."""
    # Built in memory and written with write(): a memory-mapped output dies of SIGBUS
    # when the disk fills up, where write() raises an error we can report.
    total = sum(len(ids[k]) for k, _, _ in copies)
    stream = np.empty(total, dtype=dtype)
    rows = []  # offset, length, notes
    offset = 0
    for k, table, notes in copies:
        piece = ids[k] if table is None else table[ids[k]].astype(dtype)
        stream[offset : offset + len(piece)] = piece
        bounds = [0, *pieces[k].breaks, len(piece)]
        for part, (start, end) in enumerate(pairwise(bounds)):
            if end > start:  # an empty text file is no piece: it would take a batch column
                rows.append((offset + start, end - start, notes if part == 0 else 0))
        offset += len(piece)
    np.save(folder / f"{split}.npy", stream)
    table_rows = np.array(rows, dtype=np.int64).reshape(-1, 3)
    np.save(folder / f"{split}_pieces.npy", table_rows)
    return {"pieces": len(rows), "tokens": total, "notes": int(table_rows[:, 2].sum())}


def _meta(
    config: PrepareConfig, vocab: Vocab, pieces: list[Piece], splits: list[str], counts: dict
) -> dict:
    training = [
        (piece.style, piece.opening)
        for piece, split in zip(pieces, splits, strict=True)
        if split == "train"
    ]
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **asdict(config),
        "vocab_size": len(vocab),
        "dtype": vocab.dtype.name,
        "counts": counts,
        **(
            {
                "velocities": _training_velocities(pieces, splits),
                "piece_quantiles": style_quantiles(training),
                "style_instruments": style_instruments(training),
            }
            if config.scheme == "event"
            else {}
        ),
        "files": [
            {
                "path": piece.path,
                "sha256": piece.sha256,
                "split": split,
                "tokens": len(piece.tokens),
                "notes": piece.notes,
                **({"style": piece.style} if piece.style is not None else {}),
            }
            for piece, split in zip(pieces, splits, strict=True)
        ],
    }


def _training_velocities(pieces: list[Piece], splits: list[str]) -> list[int]:
    counts = [0] * 128
    for piece, split in zip(pieces, splits, strict=True):
        if split == "train" and piece.velocities:
            counts = [a + b for a, b in zip(counts, piece.velocities, strict=True)]
    return velocity_table(counts)


def _replace_folder(staging: Path, output: Path) -> None:
    """Move the finished dataset into place; an older one at ``output`` goes only then."""
    if output.exists():
        if not (output / "meta.json").exists():
            raise MidiError("exists and is not a dataset folder; choose another -o", path=output)
        old = output.with_name(f".{output.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)


# -- reading --------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A prepared dataset folder, its arrays memory-mapped."""

    folder: Path
    vocab: Vocab
    meta: dict

    def ids(self, split: str) -> np.ndarray:
        return np.load(self.folder / f"{split}.npy", mmap_mode="r")

    def pieces(self, split: str) -> np.ndarray:
        """(offset, length, notes) per piece."""
        return np.load(self.folder / f"{split}_pieces.npy")

    @property
    def scheme(self) -> str:
        return self.meta["scheme"]


class Reindexed:
    """A dataset whose ids pass through a table on the way out (``reindexed``)."""

    def __init__(self, source: Dataset, vocab: Vocab, table: np.ndarray) -> None:
        self.source, self.vocab, self.table = source, vocab, table
        self.folder, self.meta = source.folder, source.meta

    def ids(self, split: str) -> np.ndarray:
        return self.table[self.source.ids(split)].astype(self.vocab.dtype)

    def pieces(self, split: str) -> np.ndarray:
        return self.source.pieces(split)


def reindexed(dataset: Dataset, vocab: Vocab) -> Dataset | Reindexed:
    """The dataset in ``vocab``'s ids (the same object where they agree): a model's, to
    score or train it on data prepared with another vocabulary.  A token ``vocab``
    lacks becomes <unk>."""
    if dataset.vocab.tokens == vocab.tokens:
        return dataset
    table = np.array(
        [vocab.ids.get(token, UNK_ID) for token in dataset.vocab.tokens], dtype=np.int64
    )
    return Reindexed(dataset, vocab, table)


def open_dataset(folder: str | Path) -> Dataset:
    """Raises MidiError naming the folder when it is not a complete dataset."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise MidiError("meta.json is not a midigen dataset's", path=folder)
        dataset = Dataset(folder, Vocab.load(folder / "vocab.json"), meta)
        for split in ("train", "valid"):
            ids, pieces = dataset.ids(split), dataset.pieces(split)
            if pieces.ndim != 2 or pieces.shape[1] != 3 or pieces[:, 1].sum() != len(ids):
                raise MidiError(f"{split}_pieces.npy does not match {split}.npy", path=folder)
    except (OSError, ValueError, KeyError) as error:
        raise MidiError(f"not a complete dataset folder ({error})", path=folder) from None
    return dataset


@contextmanager
def dataset_from(
    data: str | Path,
    scheme: str | None = None,
    vocab: Vocab | None = None,
    valid_fraction: float = PrepareConfig.valid_fraction,
    styles: bool = False,
    skipped: Callable[[str], None] | None = None,
    repaired: Callable[[list[str]], None] | None = None,
) -> Iterator[Dataset]:
    """A dataset folder as it is, or a folder of MIDI or text prepared into a temporary one.

    ``scheme`` None guesses it from the files: MIDI anywhere means events,
    otherwise word text.  ``vocab`` is passed on to ``prepare`` (to score
    new files with a trained model's vocabulary); with ``styles`` a folder's
    first-level subfolders name the files' styles.  ``skipped`` hears why
    each file that could not be prepared was left out, and ``repaired`` what
    the tolerant reader mended in each file it kept.

    Raises:
        MidiError: the dataset holds another scheme, or the files cannot be prepared.
    """
    data = Path(data)
    if (data / "meta.json").exists():
        dataset = open_dataset(data)
        if scheme and scheme != dataset.scheme:
            raise MidiError(f"the dataset holds {dataset.scheme} tokens, not {scheme}", path=data)
        yield dataset
        return
    with tempfile.TemporaryDirectory(prefix="midigen-data-") as temporary:
        folder = Path(temporary) / "data"
        scheme = scheme or guess_scheme(data)
        config = PrepareConfig(
            scheme=scheme, valid_fraction=valid_fraction, styles=styles and scheme == "event"
        )
        report = prepare([data], folder, config, vocab=vocab)
        for piece in report.skipped if skipped else ():
            skipped(piece.error)
        for piece in report.repaired if repaired else ():
            repaired(piece.repairs)
        dataset = open_dataset(folder)
        dataset.meta["source"] = str(data)
        yield dataset


def guess_scheme(folder: Path) -> str:
    """MIDI files anywhere under the folder mean music; otherwise it is word text."""
    candidates = [folder] if folder.is_file() else folder.rglob("*")
    if any(path.suffix.lower() in MIDI_SUFFIXES for path in candidates):
        return "event"
    return "text"
