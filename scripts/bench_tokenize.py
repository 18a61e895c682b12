"""How fast does midigen turn MIDI bytes into event tokens, compared with symusic + MidiTok REMI?

Both tools start from the same in-memory bytes (every ``.mid`` file of the
corpus, loaded once), so disk speed plays no part, and each includes its own
parsing:

    midigen  midigen.tokenize(midigen.read(b), scheme="event")
    MidiTok  REMI(config)(symusic.Score.from_midi(b))     symusic parses in C++

The REMI tokenizer is built once, before timing, with the options closest to
what the event scheme encodes: programs (one token stream for all tracks),
drums, velocities, durations, tempi, time signatures and sustain pedal, with
the full pitch range so that neither tool drops notes the other keeps.  Its
grid stays MidiTok's default (8 positions per beat); midigen's is 24.  MidiTok
also fills in token ids, midigen returns token strings only.

Before timing, every file goes through both tools once.  A file either tool
raises on is left out for both, as is ``dwm_ics_candyluv.mid``, which symusic
cannot load (SMPTE division; ../shared/corpus/README.md), so both time exactly
the same files.  That pass also counts each tool's tokens and notes (NOTE/DRUM
tokens for midigen, Pitch/PitchDrum tokens for MidiTok); every timed pass
checks that it produced the same number of tokens again.

Each run times both tools once, one after the other, so that machine noise
hits them alike; the table shows the median over the runs.  "vs MidiTok" is
MidiTok's median time over midigen's on the same files; the target is at
least 3x, the goal 10x.

Run from anywhere:

    python scripts/bench_tokenize.py [--corpus DIR] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import symusic
from miditok import REMI, TokenizerConfig
from shared_corpus import shared_corpus

import midigen

DEFAULT_CORPUS = shared_corpus("real")
# symusic 0.6 rejects header lengths other than 6; ../shared/corpus/README.md asks
# to leave this file out of symusic timings.
SYMUSIC_SKIP = {"dwm_ics_candyluv.mid"}
MIDITOK_CONFIG = {
    "use_programs": True,  # with one_token_stream_for_programs (default): one sequence per file
    "use_tempos": True,
    "use_time_signatures": True,
    "use_sustain_pedals": True,
    "pitch_range": (0, 127),  # inclusive; midigen keeps every pitch
    "drums_pitch_range": (0, 127),
}
MIDIGEN_NOTES = ("NOTE_", "DRUM_")
MIDITOK_NOTES = ("Pitch_", "PitchDrum_")
TARGET, GOAL = 3, 10


@dataclass
class Contender:
    """One tool tokenizing every file; ``run`` does the whole pass and returns the token total."""

    tool: str
    run: Callable[[], int]
    tokens: int
    notes: int
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


# -- the two tools ----------------------------------------------------------------


def midigen_tokens(data: bytes) -> list[str]:
    return midigen.tokenize(midigen.read(data), scheme="event")


def miditok_tokenizer() -> Callable[[bytes], list[str]]:
    """symusic load + REMI encode, as a function of the bytes returning token strings."""
    tokenizer = REMI(TokenizerConfig(**MIDITOK_CONFIG))
    assert tokenizer.one_token_stream  # so encode returns one TokSequence, never a list

    def tokens(data: bytes) -> list[str]:
        return tokenizer.encode(symusic.Score.from_midi(data)).tokens

    return tokens


def token_total(tokenize: Callable[[bytes], list[str]], blobs: list[bytes]) -> Callable[[], int]:
    """A pass that tokenizes every blob and returns how many tokens came out."""

    def run() -> int:
        return sum(len(tokenize(data)) for data in blobs)

    return run


# -- corpus -----------------------------------------------------------------------


def load_corpus(
    folder: Path, tools: dict[str, Callable[[bytes], list[str]]]
) -> tuple[dict[str, bytes], dict[str, list[list[str]]], list[str]]:
    """Read every .mid file and tokenize it once with each tool.

    Returns the bytes of the files every tool handles, each tool's tokens
    for them (in the same order), and why the other files were left out.
    """
    blobs: dict[str, bytes] = {}
    outputs: dict[str, list[list[str]]] = {tool: [] for tool in tools}
    skipped = []
    for path in sorted(folder.glob("*.mid")):
        if path.name in SYMUSIC_SKIP:
            skipped.append(f"{path.name}: symusic 0.6 cannot load it (corpus README)")
            continue
        data = path.read_bytes()
        try:
            tokens = {tool: tokenize(data) for tool, tokenize in tools.items()}
        except Exception as error:  # any tool failing drops the file, whatever it raises
            skipped.append(f"{path.name}: {type(error).__name__}: {error}")
            continue
        blobs[path.name] = data
        for tool, sequence in tokens.items():
            outputs[tool].append(sequence)
    return blobs, outputs, skipped


def count_notes(sequences: list[list[str]], prefixes: tuple[str, ...]) -> int:
    return sum(token.startswith(prefixes) for tokens in sequences for token in tokens)


# -- timing -----------------------------------------------------------------------


def time_runs(table: list[Contender], runs: int) -> None:
    """Run every contender once per run, in turn, so that noise spreads over all of them.

    Objects alive before timing (the corpus, the tokenizer, imported modules)
    are frozen out of the cyclic collector, so that neither tool's collections
    rescan them.
    """
    gc.collect()
    gc.freeze()
    for _ in range(runs):
        for contender in table:
            start = time.perf_counter()
            tokens = contender.run()
            contender.seconds.append(time.perf_counter() - start)
            if tokens != contender.tokens:
                sys.exit(f"error: {contender.tool} gave {tokens} tokens, {contender.tokens} before")


# -- report -----------------------------------------------------------------------


def report(
    corpus_dir: Path, blobs: dict[str, bytes], skipped: list[str], table: list[Contender], runs: int
) -> dict:
    midigen_row, miditok_row = table
    return {
        "corpus": str(corpus_dir),
        "files": len(blobs),
        "bytes": sum(len(data) for data in blobs.values()),
        "skipped": skipped,
        "runs": runs,
        "miditok_config": MIDITOK_CONFIG,
        "results": [
            {
                "tool": c.tool,
                "files": len(blobs),
                "notes": c.notes,
                "tokens": c.tokens,
                "median_s": c.median,
                "seconds": c.seconds,
                "files_per_s": len(blobs) / c.median,
                "tokens_per_s": c.tokens / c.median,
                "notes_per_s": c.notes / c.median,
            }
            for c in table
        ],
        "midigen_vs_miditok": miditok_row.median / midigen_row.median,
    }


def print_table(result: dict) -> None:
    print(
        f"corpus {result['corpus']}: {result['files']} files, "
        f"{result['bytes'] / 1e6:.2f} MB; median of {result['runs']} runs"
    )
    for line in result["skipped"]:
        print(f"  left out {line}")
    print()
    print(
        f"{'tool':<34}{'files':>6}{'notes':>10}{'tokens':>11}{'median s':>10}"
        f"{'files/s':>9}{'tokens/s':>10}{'notes/s':>10}"
    )
    for row in result["results"]:
        print(
            f"{row['tool']:<34}{row['files']:>6}{row['notes']:>10,}{row['tokens']:>11,}"
            f"{row['median_s']:>10.3f}{row['files_per_s']:>9.0f}"
            f"{row['tokens_per_s'] / 1e6:>9.2f}M{row['notes_per_s'] / 1e6:>9.2f}M"
        )
    print()
    print(
        f"midigen vs MidiTok (same files, time): {result['midigen_vs_miditok']:.1f}x faster "
        f"(target >= {TARGET}x, goal {GOAL}x)"
    )


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
    tools = {
        'midigen tokenize(read(b), "event")': midigen_tokens,
        "MidiTok REMI(Score.from_midi(b))": miditok_tokenizer(),
    }
    blobs, outputs, skipped = load_corpus(args.corpus, tools)
    if not blobs:
        sys.exit(f"error: no .mid files in {args.corpus} that both tools tokenize")
    data = list(blobs.values())
    table = [
        Contender(
            tool,
            token_total(tokenize, data),
            sum(map(len, outputs[tool])),
            count_notes(outputs[tool], prefixes),
        )
        for (tool, tokenize), prefixes in zip(
            tools.items(), (MIDIGEN_NOTES, MIDITOK_NOTES), strict=True
        )
    ]
    del outputs
    time_runs(table, args.runs)
    result = report(args.corpus, blobs, skipped, table, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
