"""Mutation fuzzer: damaged MIDI bytes and token text must never crash or hang midigen.

Three targets (``--target``):

- ``codec`` (the default): the reader and writer, as below.
- ``tokenize``: damaged MIDI bytes, read tolerantly, then event-tokenized and
  decoded back: tokenizing gives tokens or a MidiError, decoding always gives
  a song that writes and reads back strictly.
- ``detokenize``: the event tokens of the seed files, damaged token by token
  (replaced, inserted, deleted, repeated, with any vocabulary token, garbage
  or out-of-range values): decoding always gives a song that writes and reads
  back strictly.


Takes real files (../shared/corpus/real, ../shared/corpus/malformed and
tests/data/*.mid by default), damages each copy with one to four random
mutations, and checks the codec's promises on every result (DESIGN.md §6,
"malformed input: 0 tracebacks, 0 hangs"):

- ``midigen.read(data)`` and ``midigen.read(data, strict=True)`` return a Song
  or raise MidiError; anything else is a crash;
- for a Song, ``midigen.write(song)`` returns bytes or raises MidiError, the
  bytes read again (tolerantly), and writing that song again gives the same
  bytes;
- when the strict read accepts the input, ``write`` gives back exactly the
  input (the chunk round trip is byte-identical for well-formed files).

Each input has a budget of TIME_BUDGET_S seconds (a SIGALRM timer, so Unix
only); running out of it counts as a hang.  The address space is capped at
MEMORY_LIMIT, so a runaway allocation shows up as a MemoryError crash instead
of swapping.  Failing inputs go to ``--crashes DIR`` (created on the first
failure), each with a text file beside it holding the traceback and how the
input was made.  The exit status is 1 when anything failed.

    python scripts/fuzz_codec.py --seconds 60 [--target codec|tokenize|detokenize] [--seed S]
                                 [--corpus DIR ...] [--crashes DIR]
    python scripts/fuzz_codec.py --replay fuzz-crashes/crash-*.mid [--target ...]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared_corpus import shared_corpus

import midigen

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = [
    shared_corpus("real"),
    shared_corpus("malformed"),
    REPO / "tests/data",
]
TIME_BUDGET_S = 2.0  # the largest corpus file round-trips in well under 0.1 s
MEMORY_LIMIT = 1 << 30  # bytes of address space; inputs are at most a few MB
MAX_MUTATIONS = 4
MAX_SAVED_PER_SIGNATURE = 3  # enough to compare; one bug can hit thousands of inputs
HEADER_BYTES = 32  # MThd and the first MTrk header, where damage changes the most
# Bytes with a meaning in SMF: 0x00/0x7F data limits, 0x80 lowest status and
# VLQ continuation, 0xFF meta, 0xF0/0xF7 sysex, 0x2F End of Track type.
INTERESTING = (0x00, 0x7F, 0x80, 0xFF, 0xF0, 0xF7, 0x2F)
HUGE_LENGTHS = (0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0x10000000, 0x0FFFFFFF, 0x00010000)
# VLQs for meta/sysex lengths: the SMF maximum, a non-minimal zero, a 5-byte VLQ.
HUGE_VLQS = (b"\xff\xff\xff\x7f", b"\x80\x80\x80\x00", b"\x8f\xff\xff\xff\x7f")
CHUNK_IDS = (b"MThd", b"MTrk", b"RIFF", b"data")


class Hang(BaseException):
    """Raised by the SIGALRM handler; a BaseException so the code under test cannot catch it."""


class Violation(Exception):
    """The codec returned, but broke one of its promises."""


@dataclass
class Failure:
    kind: str  # "crash" or "hang"
    traceback: str

    @property
    def signature(self) -> str:
        """Kind, exception type and innermost frame: inputs that share it share a bug.

        For a hang, the innermost frame is the one the alarm interrupted.
        """
        lines = self.traceback.strip().splitlines()
        frames = [
            line.strip()
            for line in lines
            if line.strip().startswith("File ") and not line.endswith(" in on_alarm")
        ]
        return f"{self.kind}: {lines[-1]} at {frames[-1] if frames else '?'}"


@dataclass
class Stats:
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # by signature
    kinds: Counter[str] = field(default_factory=Counter)
    saved: dict[str, list[Path]] = field(default_factory=dict)


# -- mutations: each changes ``data`` in place and describes what it did ------


def position(rng: random.Random, data: bytearray) -> int:
    """A byte offset in ``data``, drawn more often from the headers at the start."""
    if not data:
        return 0
    if rng.random() < 0.25:
        return rng.randrange(min(len(data), HEADER_BYTES))
    return rng.randrange(len(data))


def flip_bit(rng: random.Random, data: bytearray) -> str:
    if not data:
        return "flip: empty"
    at, bit = position(rng, data), rng.randrange(8)
    data[at] ^= 1 << bit
    return f"flip bit {bit} at {at}"


def overwrite_interesting(rng: random.Random, data: bytearray) -> str:
    if not data:
        return "overwrite: empty"
    at, value = position(rng, data), rng.choice(INTERESTING)
    data[at] = value
    return f"overwrite {at} with {value:02X}"


def insert_run(rng: random.Random, data: bytearray) -> str:
    at, size = position(rng, data), rng.randint(1, 16)
    if rng.random() < 0.5:
        run = bytes([rng.choice(INTERESTING)]) * size
    else:
        run = rng.randbytes(size)
    data[at:at] = run
    return f"insert {run.hex()} at {at}"


def delete_run(rng: random.Random, data: bytearray) -> str:
    at, size = position(rng, data), rng.randint(1, 16)
    del data[at : at + size]
    return f"delete {size} bytes at {at}"


def truncate(rng: random.Random, data: bytearray) -> str:
    at = position(rng, data)
    del data[at:]
    return f"truncate at {at}"


def duplicate_slice(rng: random.Random, data: bytearray) -> str:
    start, size, at = position(rng, data), rng.randint(1, 256), position(rng, data)
    piece = data[start : start + size]
    data[at:at] = piece
    return f"copy {len(piece)} bytes from {start} to {at}"


def huge_length(rng: random.Random, data: bytearray) -> str:
    """Overwrite a chunk's 4-byte length (or 4 random bytes) with a huge value."""
    fields = [offset + 4 for chunk_id in CHUNK_IDS for offset in _find_all(data, chunk_id)]
    at = rng.choice(fields) if fields and rng.random() < 0.8 else position(rng, data)
    value = rng.choice((*HUGE_LENGTHS, len(data) + rng.randint(1, 64)))
    data[at : at + 4] = value.to_bytes(4, rng.choice(("big", "little")))
    return f"length {value:#x} at {at}"


def huge_vlq(rng: random.Random, data: bytearray) -> str:
    """Overwrite bytes with a huge or over-long VLQ, as a meta or sysex length would be."""
    at, vlq = position(rng, data), rng.choice(HUGE_VLQS)
    data[at : at + len(vlq)] = vlq
    return f"vlq {vlq.hex()} at {at}"


def _find_all(data: bytearray, needle: bytes) -> list[int]:
    found = []
    at = data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


MUTATIONS: tuple[Callable[[random.Random, bytearray], str], ...] = (
    flip_bit,
    overwrite_interesting,
    insert_run,
    delete_run,
    truncate,
    duplicate_slice,
    huge_length,
    huge_vlq,
)


def mutate(rng: random.Random, original: bytes) -> tuple[bytes, list[str]]:
    data = bytearray(original)
    steps = [rng.choice(MUTATIONS)(rng, data) for _ in range(rng.randint(1, MAX_MUTATIONS))]
    return bytes(data), steps


# -- the checks ---------------------------------------------------------------


def check_tokenize(data: bytes) -> str:
    try:
        song = midigen.read(data)
    except midigen.MidiError:
        return "MidiError"
    try:
        tokens = midigen.tokenize(song, "event")
    except midigen.MidiError:
        return "Song/MidiError"
    check_decoded(tokens)
    return "Song/tokens"


def check_detokenize(data: bytes) -> str:
    tokens = data.decode("utf-8").split()
    if tokens[:1] != ["EVENT_24"]:  # no longer event token text: a TokenError is the answer
        try:
            midigen.detokenize(tokens)
        except midigen.MidiError:
            return "not event tokens"
    check_decoded(tokens)
    return "tokens"


def check_decoded(tokens: list[str]) -> None:
    song = midigen.detokenize(tokens)
    written = midigen.write(song)
    midigen.read(written, strict=True)


def mutate_tokens(rng: random.Random, original: bytes) -> tuple[bytes, list[str]]:
    tokens = original.decode("utf-8").split()
    steps = []
    for _ in range(rng.randint(1, MAX_MUTATIONS * 4)):
        where = rng.randrange(len(tokens) + 1)
        word = rng.choice(
            [rng.choice(VOCABULARY), rng.choice(ODD_TOKENS), tokens[where - 1] if where else "X"]
        )
        action = rng.choice(("replace", "insert", "delete", "repeat"))
        if action == "replace" and where < len(tokens):
            tokens[where] = word
        elif action == "insert":
            tokens.insert(where, word)
        elif action == "delete" and where < len(tokens):
            del tokens[where]
        elif action == "repeat" and where < len(tokens):
            tokens[where:where] = [tokens[where]] * rng.choice((2, 10, 1000))
        steps.append(f"{action} {word!r} at {where}")
    return " ".join(tokens).encode("utf-8"), steps


VOCABULARY = __import__("midigen.tokens.grammar", fromlist=["vocabulary"]).vocabulary()
ODD_TOKENS = (
    "SHIFT_0", "SHIFT_99999", "DUR_1536", "DUR_-1", "NOTE_128", "VEL_16", "TFINE_64",
    "TEMPO_0", "TIMESIG_255_1", "TIMESIG_0_0", "PROGRAM_200", "EVENT_24", "STYLE_",
    "STYLE_pop", "PEDAL_UP", "<eos>", "<unk>", "MTHD_0001_0060", "", "_", "NOTE_", "x" * 500,
)  # fmt: skip


def check(data: bytes) -> str:
    """Check the codec's promises on one input; return what the two reads gave.

    A MidiError from a read or the first write is an accepted answer; any
    other exception escapes, and so does a MidiError re-reading written bytes.
    """
    outcome = []
    for strict in (False, True):
        try:
            song = midigen.read(data, strict=strict)
        except midigen.MidiError:
            outcome.append("MidiError")
            continue
        outcome.append("Song")
        check_write(song, data, strict)
    return "/".join(outcome)


def check_write(song: midigen.Song, data: bytes, strict: bool) -> None:
    try:
        written = midigen.write(song)
    except midigen.MidiError:
        return
    if strict and written != data:
        raise Violation("strict read accepted the input, but write(read(b)) != b")
    again = midigen.write(midigen.read(written))
    if again != written:
        raise Violation("write -> read -> write changed the bytes")


def on_alarm(signum: int, frame: object) -> None:
    raise Hang(f"no answer within {TIME_BUDGET_S} s")


TARGETS = {"codec": check, "tokenize": check_tokenize, "detokenize": check_detokenize}


def run_one(data: bytes, stats: Stats, target: str = "codec") -> Failure | None:
    """Check one input within the time budget; return the failure, if any."""
    signal.setitimer(signal.ITIMER_REAL, TIME_BUDGET_S)
    try:
        stats.outcomes[TARGETS[target](data)] += 1
    except Hang:
        return Failure("hang", traceback.format_exc())
    except Exception:
        return Failure("crash", traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


# -- driver -------------------------------------------------------------------


def load_seeds(folders: list[Path]) -> list[tuple[str, bytes]]:
    return [
        (str(path), path.read_bytes())
        for folder in folders
        if folder.is_dir()
        for path in sorted(folder.glob("*.mid"))
    ]


def token_seeds(seeds: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The event tokens of every seed file midigen can read, as UTF-8 text."""
    texts = []
    for origin, data in seeds:
        try:
            tokens = midigen.tokenize(midigen.read(data), "event")
        except midigen.MidiError:
            continue
        texts.append((origin, " ".join(tokens).encode("utf-8")))
    return texts


def save(folder: Path, data: bytes, failure: Failure, origin: str, steps: list[str]) -> Path:
    """Write the input and, beside it, a .txt with the traceback and how it was made."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{failure.kind}-{hashlib.sha1(data).hexdigest()[:12]}.mid"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(
        f"{failure.signature}\n\nmade from {origin} by: {'; '.join(steps)}\n"
        f"reproduce: python scripts/fuzz_codec.py --replay {path}\n"
        f"\n{failure.traceback}"
    )
    return path


def fuzz(
    seeds: list[tuple[str, bytes]],
    rng: random.Random,
    seconds: float,
    crashes: Path,
    target: str = "codec",
) -> Stats:
    stats = Stats()
    deadline = time.monotonic() + seconds
    damage = mutate_tokens if target == "detokenize" else mutate
    try:
        while time.monotonic() < deadline:
            origin, original = rng.choice(seeds)
            data, steps = damage(rng, original)
            stats.inputs += 1
            failure = run_one(data, stats, target)
            if failure is None:
                continue
            signature = failure.signature
            stats.failures[signature] += 1
            stats.kinds[failure.kind] += 1
            saved = stats.saved.setdefault(signature, [])
            if len(saved) < MAX_SAVED_PER_SIGNATURE:
                path = save(crashes, data, failure, origin, steps)
                if path not in saved:
                    saved.append(path)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return stats


def print_summary(stats: Stats, seconds: float, seed: int, seed_files: int) -> None:
    print(f"seed {seed}, {seed_files} seed files, {seconds:.1f} s")
    print(f"inputs tried: {stats.inputs:,} ({stats.inputs / seconds:,.0f} inputs/s)")
    print(
        "reads (tolerant/strict): "
        + ", ".join(f"{outcome} {count:,}" for outcome, count in stats.outcomes.most_common())
    )
    print(f"crashes: {stats.kinds['crash']}, hangs: {stats.kinds['hang']}")
    for signature, count in stats.failures.most_common():
        print(f"  {count:,} x {signature}")
        for path in stats.saved[signature]:
            print(f"      {path}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    parser.add_argument(
        "--target", choices=sorted(TARGETS), default="codec", help="what to fuzz (default codec)"
    )
    parser.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="folder of .mid seed files; repeat for several "
        "(default: the shared real and malformed corpora and tests/data)",
    )
    parser.add_argument(
        "--crashes",
        type=Path,
        default=Path("fuzz-crashes"),
        help="where failing inputs go (default ./fuzz-crashes)",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="instead of fuzzing, run the checks on these files",
    )
    return parser.parse_args(argv)


def limit_memory() -> None:
    """Cap the address space, so runaway allocations fail fast as MemoryError."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MEMORY_LIMIT:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))


def replay(paths: list[Path], target: str) -> int:
    """Run the checks on saved inputs, printing each failure's traceback."""
    failed = 0
    for path in paths:
        failure = run_one(path.read_bytes(), Stats(), target)
        print(f"{path}: {failure.signature if failure else 'ok'}")
        if failure:
            print(failure.traceback)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, on_alarm)
    limit_memory()
    if args.replay:
        return replay(args.replay, args.target)
    seeds = load_seeds(args.corpus or DEFAULT_CORPORA)
    if args.target == "detokenize":
        seeds = token_seeds(seeds)
    if not seeds:
        sys.exit("error: no .mid seed files found (pass --corpus DIR)")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    start = time.monotonic()
    stats = fuzz(seeds, random.Random(seed), args.seconds, args.crashes, args.target)
    print_summary(stats, time.monotonic() - start, seed, len(seeds))
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
