"""Command line (`midigen`): parse, call one function, report.

Only this module knows click.  Library errors (MidiError) become one line
``error: <file>: <what> (track N, byte M)`` on stderr and exit status 1;
``--debug`` re-raises them with the traceback.  Usage errors stay click's
(exit 2).  Heavy modules (torch, numpy, tqdm) are imported inside the
commands that need them, so `midigen --help` and `midigen info` start fast.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .errors import MidiError, NotMidiError, UntimedError, count
from .fileio import (
    MIDI_SUFFIXES,
    TEXT_SUFFIXES,
    check_output,
    find_inputs,
    read_regular,
    write_atomic,
)
from .model import default_model
from .workers import process_map

if TYPE_CHECKING:
    from .midi.song import Song
    from .model.train import Recipe

SEED = click.IntRange(0, 2**63 - 1)  # what numpy, torch and random all take


class Finite(click.FloatRange):
    """A FloatRange that refuses nan and inf, which its bounds let through."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


TIME_BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]"  # train --time
MAX_PIECES = 1000  # --num: every piece is a stream of one batch, held in memory together
MAX_WARNINGS = 5  # a file's repairs shown; a broken file can have thousands
PROGRESS_DELAY = 2.0  # seconds of sampling before its bar shows: most pieces take less


def _parsed_option(parse: Callable[[str], object], value: str, name: str) -> object:
    """``parse(value)``, its MidiError a usage error (exit 2) that names the option."""
    try:
        return parse(value)
    except MidiError as error:
        raise click.BadParameter(str(error), param_hint=name) from None


class CommandError(click.ClickException):
    """A MidiError on its way out: printed as ``error: ...``, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C waits for the block (torch's import) to finish, then interrupts.  An import
    cut short leaves its modules half made: the command then failed on an ImportError,
    on numpy without ``subtract``, or went on as if no key had been pressed."""
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


class ManyValued(click.Command):
    """A command whose ``many_valued`` options each take every value that follows them,
    up to the next option: ``compare out/*.mid --reference real/*.mid`` as the shell
    expands it.  Click gives an option one value, so the rest would join the arguments
    before it (real pieces counted as generated ones, with no error)."""

    def __init__(self, *args, many_valued: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.many_valued = many_valued

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        spread: list[str] = []
        taking, first = None, False  # the many-valued option in force; its first value next
        for position, arg in enumerate(args):
            if arg == "--":
                spread.extend(args[position:])
                break
            if arg.startswith("-") and arg != "-":
                name, inline, value = arg.partition("=")  # --reference=a.mid: its first value
                taking, first = (name if name in self.many_valued else None), not value
                if taking and inline and not value:  # --reference= a.mid: as --reference
                    arg = name
            elif taking is not None and not first:
                spread.append(taking)  # the option again before each further value
            else:
                first = False
            spread.append(arg)
        return super().parse_args(ctx, spread)


COMMAND_LINE = "midigen.command_line"  # Context.meta key: the arguments after `midigen`


class MidigenGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[COMMAND_LINE] = list(args)  # as typed: train's --resume advice repeats it
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MidiError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise CommandError(str(error)) from error
        except BrokenPipeError:  # `midigen tokenize x.mid | head`
            sys.stderr.close()
            ctx.exit(1)
        except KeyboardInterrupt:  # Ctrl-C; train saves first and says so itself
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("error: interrupted; no file was left half-written", err=True)
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as error:  # the system's refusal (a full disk or stdout): no bug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = f"{error.filename}: " if error.filename else ""
            raise CommandError(f"{where}{error.strerror or error}") from error
        except Exception as error:  # a bug: still one line, unless --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise CommandError(
                f"internal error: {type(error).__name__}: {error} "
                "(rerun with --debug for the traceback)"
            ) from error


@click.group(cls=MidigenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="midigen")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Learn music from MIDI files and write new music as MIDI.

    \b
    Examples:
      midigen generate -o song.mid                  # a minute of music, shipped model
      midigen generate -o more.mid --prime song.mid # go on from a song's first 10 s
      midigen info song.mid
      midigen tokenize song.mid > song.txt
      midigen prepare midi/ -o data/ && midigen train data/ -o models/mine

    Exit status: 0 success, 1 bad input or failed work (one `error:` line per
    problem on stderr), 2 usage error.
    """
    ctx.obj = {"debug": debug}


# -- info -------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per file.")
@click.option("--strict", is_flag=True, help="Reject files with any defect instead of repairing.")
@click.pass_obj
def info(settings: dict, files: tuple[str, ...], as_json: bool, strict: bool) -> None:
    """Show format, division, tracks, events, notes, duration, tempi, meters, keys and
    instruments.

    FILES may be MIDI files or folders of them.

    \b
    Examples:
      midigen info song.mid
      midigen info midi/ --json > summary.json
    """
    from .midi.reader import read
    from .views.summary import summarize

    results = []
    failed = False
    jobs = find_inputs(files, MIDI_SUFFIXES)
    if not jobs:
        raise MidiError(f"no {'/'.join(MIDI_SUFFIXES)} files found", path=", ".join(files))
    for job in jobs:
        try:
            summary = summarize(read(job.source, strict=strict))
        except MidiError as error:
            if settings["debug"]:
                raise
            click.echo(f"error: {error}", err=True)
            failed = True
            continue
        summary = {"file": str(job.source), **summary}
        if as_json:
            results.append(summary)
        else:
            click.echo(_format_summary(summary))
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    if failed:
        sys.exit(1)


def _format_summary(summary: dict) -> str:
    division = summary["division"]
    if "ticks_per_quarter" in division:
        timing = f"{division['ticks_per_quarter']} ticks per quarter"
    else:
        timing = f"SMPTE {division['smpte_fps']} fps x {division['ticks_per_frame']} ticks"
    seconds = summary["duration_seconds"]
    duration = (
        "unknown"
        if seconds is None
        else (f"{int(seconds // 60)}:{seconds % 60:04.1f} ({seconds:.1f} s)")
    )
    tempi = ", ".join(f"{bpm:g}" for bpm in summary["tempi_bpm"][:8])
    if len(summary["tempi_bpm"]) > 8:
        tempi += f", ... ({len(summary['tempi_bpm'])} tempi)"
    instruments = ", ".join(f"ch{i['channel']} {i['name']}" for i in summary["instruments"])
    lines = [
        summary["file"],
        f"  format {summary['format']}, {timing}, {count(summary['tracks'], 'track')}, "
        f"{count(summary['events'], 'event')}, {count(summary['notes'], 'note')}",
        f"  duration {duration}, tempo {tempi} bpm",
        f"  meter {', '.join(summary['meters']) or 'none given (4/4)'}, "
        f"key {', '.join(summary['keys']) or 'none given'}",
        f"  instruments: {instruments or 'none'}",
    ]
    lines += [f"  warning: {warning}" for warning in summary["warnings"][:MAX_WARNINGS]]
    if len(summary["warnings"]) > MAX_WARNINGS:
        lines.append(f"  ... {len(summary['warnings']) - MAX_WARNINGS} more warnings")
    return "\n".join(lines)


# -- tokenize / detokenize ----------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One file to convert; ``destination`` None means: return the output for stdout."""

    source: Path
    destination: Path | None
    options: Options


@dataclass(frozen=True)
class Options:
    """What every task of one command shares."""

    scheme: str = "chunk"  # tokenize: the token scheme
    strict: bool = False  # tokenize: reject defects instead of repairing
    debug: bool = False  # re-raise errors with their traceback


@dataclass(frozen=True)
class Outcome:
    source: Path
    output: bytes | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(), help="Output file, or folder for several inputs."
)
@click.option(
    "--scheme",
    type=click.Choice(["chunk", "event"]),
    default="chunk",
    show_default=True,
    help="chunk = lossless, one pseudo-word per SMF event; "
    "event = musical events of all tracks merged, for modelling.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker processes for folders (0 = one per CPU).",
)
@click.option("--strict", is_flag=True, help="Reject files with any defect instead of repairing.")
@click.pass_obj
def tokenize(
    settings: dict,
    inputs: tuple[str, ...],
    output: str | None,
    scheme: str,
    jobs: int,
    strict: bool,
) -> None:
    """Turn MIDI files or folders into token text.

    One input and no -o (or -o -) writes the tokens to stdout.  A folder (or several
    inputs) needs -o OUT and writes OUT/<same relative path>.txt.  A file
    that cannot be read is reported and skipped; the exit status is then 1.

    \b
    Examples:
      midigen tokenize song.mid
      midigen tokenize song.mid -o song.txt
      midigen tokenize midi/ -o tokens/ --jobs 0
      midigen tokenize song.mid --scheme event
    """
    options = Options(scheme=scheme, strict=strict, debug=settings["debug"])
    tasks = _plan(inputs, output, MIDI_SUFFIXES, TEXT_SUFFIXES, options)
    _run(tasks, _tokenize_task, jobs, "tokenize")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(), help="Output file, or folder for several inputs."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker processes for folders (0 = one per CPU).",
)
@click.pass_obj
def detokenize(settings: dict, inputs: tuple[str, ...], output: str | None, jobs: int) -> None:
    """Turn token text files or folders back into MIDI files.

    The text says which scheme made it, so no flags are needed.  One input
    and no -o (or -o -) writes the MIDI bytes to stdout (not to a terminal).

    \b
    Examples:
      midigen detokenize song.txt -o song.mid
      midigen detokenize tokens/ -o midi/
    """
    tasks = _plan(
        inputs, output, TEXT_SUFFIXES, (".mid", ".midi"), Options(debug=settings["debug"])
    )
    if tasks[0].destination is None and sys.stdout.isatty():
        raise click.UsageError("refusing to write MIDI bytes to a terminal; use -o FILE")
    _run(tasks, _detokenize_task, jobs, "detokenize")


def _plan(
    inputs: tuple[str, ...],
    output: str | None,
    suffixes: tuple[str, ...],
    new_suffixes: tuple[str, ...],
    options: Options,
) -> list[Task]:
    """Map inputs to outputs: one file to stdout (no -o, or -o -) or a file whose name ends
    in one of ``new_suffixes``, anything else into a folder."""
    jobs = find_inputs(inputs, suffixes)
    new_suffix = new_suffixes[0]
    single_file = len(inputs) == 1 and not Path(inputs[0]).is_dir()
    if single_file:
        destination = None
        if output is not None and output != "-":
            destination = Path(output)
            if destination.is_dir():
                destination = destination / Path(inputs[0]).with_suffix(new_suffix).name
            elif destination.suffix.lower() not in new_suffixes:
                raise click.BadParameter(
                    f"must end in {' or '.join(new_suffixes)}, or be - for stdout",
                    param_hint="-o",
                )
        return [Task(jobs[0].source, destination, options)]
    if output is None or output == "-":
        raise click.UsageError("a folder or several inputs need -o OUTPUT_FOLDER")
    root = Path(output)
    if root.exists() and not root.is_dir():
        raise click.UsageError(f"-o {output}: not a folder")
    if not root.exists() and root.suffix.lower() in (*new_suffixes, *suffixes):  # a file
        raise click.UsageError(
            f"-o {output}: a folder or several inputs are written into a folder, "
            f"and this names a {root.suffix} file"
        )
    if not jobs:
        raise MidiError(f"no {'/'.join(suffixes)} files found", path=", ".join(inputs))
    for item in map(Path, inputs):
        if item.is_dir() and root.resolve().is_relative_to(item.resolve()):
            raise MidiError(
                "the output folder is the input folder or inside it; choose another -o",
                path=output,
            )
    tasks = [Task(job.source, root / job.relative.with_suffix(new_suffix), options) for job in jobs]
    taken: dict[str, Path] = {}
    for task in tasks:  # case folded: song.mid and song.MIDI collide on macOS and Windows
        other = taken.setdefault(str(task.destination).casefold(), task.source)
        if other != task.source:
            raise MidiError(
                f"{other} and {task.source} would both be written to {task.destination}; "
                "rename one, or convert them apart"
            )
    return tasks


def _run(tasks: list[Task], work: Callable[[Task], Outcome], jobs: int, label: str) -> None:
    """Run tasks (in parallel when asked), report each problem, exit 1 if any failed."""
    failed = 0
    for outcome in _outcomes(tasks, work, jobs, label):
        if outcome.error:
            failed += 1
            click.echo(f"error: {outcome.error}", err=True)
            continue
        if outcome.warnings:
            more = f" (+{len(outcome.warnings) - 1} more)" if len(outcome.warnings) > 1 else ""
            click.echo(f"warning: {outcome.warnings[0]}{more}", err=True)
        if outcome.output is not None:
            sys.stdout.flush()
            sys.stdout.buffer.write(outcome.output)
            sys.stdout.buffer.flush()
    if failed:
        if len(tasks) > 1:
            click.echo(f"error: {failed} of {len(tasks)} files failed", err=True)
        sys.exit(1)


def _outcomes(
    tasks: list[Task], work: Callable[[Task], Outcome], jobs: int, label: str
) -> Iterator[Outcome]:
    if len(tasks) == 1:
        yield work(tasks[0])
        return
    from tqdm import tqdm

    workers = jobs or os.cpu_count() or 1
    with tqdm(total=len(tasks), desc=label, unit="file", disable=None, file=sys.stderr) as progress:
        results = map(work, tasks) if workers == 1 else process_map(work, tasks, workers)
        for outcome in results:
            progress.update()
            yield outcome


def _tokenize_task(task: Task) -> Outcome:
    from .midi.reader import read
    from .tokens import tokenize, tokens_to_text

    try:
        song = read(task.source, strict=task.options.strict)
        text = tokens_to_text(tokenize(song, task.options.scheme))
        return _deliver(task, text.encode("utf-8"), _named_warnings(song, task.source))
    except NotMidiError as error:
        if _starts_as_token_text(task.source):  # a user's guess at the wrong command
            error.what += "; it is token text: `midigen detokenize` makes MIDI of it"
        return _failed(task, error)
    except MidiError as error:
        return _failed(task, error)


def _starts_as_token_text(path: Path) -> bool:
    """Whether the file opens with the first token of chunk or event token text."""
    from .tokens.chunk import HEADER as CHUNK_HEADER
    from .tokens.grammar import HEADER as EVENT_HEADER

    try:
        with open(path, "rb") as file:
            opening = file.read(16)
    except OSError:
        return False
    return opening.startswith((f"{CHUNK_HEADER}_".encode(), f"{EVENT_HEADER} ".encode()))


def _detokenize_task(task: Task) -> Outcome:
    from .midi.writer import write
    from .tokens import MAX_TOKEN_TEXT_BYTES, detokenize

    try:
        try:
            text = read_regular(task.source, MAX_TOKEN_TEXT_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise MidiError("not UTF-8 token text") from None
        song = detokenize(text)
        return _deliver(task, write(song), _named_warnings(song, task.source))
    except MidiError as error:
        return _failed(task, error)


def _failed(task: Task, error: MidiError) -> Outcome:
    """A file's error, naming the file (the tokenizer's and the decoder's do not); with
    --debug, raised."""
    error.with_path(task.source)
    if task.options.debug:
        raise error
    return Outcome(task.source, error=str(error))


def _repairs_line(repairs: Sequence[str]) -> str:
    """One warning line for a file's repairs: the first, and how many more."""
    more = f" (+{len(repairs) - 1} more)" if len(repairs) > 1 else ""
    return f"warning: {repairs[0]}{more}"


class RepairsTold:
    """Tells what the reader mended in the files of a folder it kept, as they are read: a
    line for each of the first few files, then (``summary``) how many in all."""

    SHOWN = 5

    def __init__(self) -> None:
        self.files = 0

    def __call__(self, repairs: Sequence[str]) -> None:
        self.files += 1
        if self.files <= self.SHOWN:
            click.echo(_repairs_line(repairs), err=True)

    def summary(self) -> None:
        if self.files:
            shown = f" (first {self.SHOWN} shown)" if self.files > self.SHOWN else ""
            click.echo(
                f"warning: kept {count(self.files, 'file')} that needed repairs{shown}", err=True
            )


def _named_warnings(song: Song, source: Path) -> tuple[str, ...]:
    """The song's warnings, each naming the file (the tokenizer's and decoder's do not)."""
    return tuple(str(warning.with_path(source)) for warning in song.warnings)


def _deliver(task: Task, data: bytes, warnings: tuple[str, ...]) -> Outcome:
    if task.destination is None:
        return Outcome(task.source, output=data, warnings=warnings)
    write_atomic(task.destination, data, inputs=[task.source])
    return Outcome(task.source, warnings=warnings)


# -- prepare -------------------------------------------------------------------------


def _transpose_range(value: str) -> tuple[int, int]:
    from .data.dataset import check_transposition

    try:
        low, high = (int(part) for part in value.split(".."))
    except ValueError:
        raise MidiError(f"{value!r} is not LO..HI, e.g. -5..6") from None
    check_transposition(low, high)
    return low, high


@main.command()
@click.argument("corpus", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Dataset folder to write.")
@click.option(
    "--scheme",
    type=click.Choice(["event", "chunk", "text"]),
    default="event",
    show_default=True,
    help="event = musical events (for music models); chunk = raw SMF events; "
    "text = whitespace-separated words, <eos> at each line end.",
)
@click.option(
    "--valid-fraction",
    type=Finite(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Share of files (by content hash, stable across runs) kept for validation.",
)
@click.option(
    "--transpose",
    default="0..0",
    show_default=True,
    help="Also add the training files transposed by LO..HI semitones (drums stay).",
)
@click.option(
    "--min-count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="chunk/text: tokens seen fewer times in training become <unk>.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes (0 = one per CPU).",
)
@click.option(
    "--styles",
    is_flag=True,
    help="Each first-level folder of CORPUS names a style (CORPUS/pop/a.mid is pop); "
    "the model learns them, and `generate --style` asks for one.",
)
def prepare(
    corpus: tuple[str, ...],
    output: str,
    scheme: str,
    valid_fraction: float,
    transpose: str,
    min_count: int,
    jobs: int,
    styles: bool,
) -> None:
    """Turn folders of MIDI files (or token text, or word text) into a training dataset.

    Writes OUTPUT/ with vocab.json, meta.json, train.npy, valid.npy and the
    piece offsets.  A file that cannot be read is reported and skipped; the
    rest of the corpus is still prepared (exit status 1 if any was skipped).

    \b
    Examples:
      midigen prepare midi/ -o data/
      midigen prepare midi/ more_midi/ -o data/ --transpose -5..6
      midigen prepare corpus/ -o data/ --styles      # corpus/pop/, corpus/folk/, ...
      midigen prepare books/ -o words/ --scheme text --min-count 3
    """
    from tqdm import tqdm

    from .data.dataset import PrepareConfig, lopsided_split
    from .data.dataset import prepare as prepare_dataset

    config = PrepareConfig(
        scheme,
        valid_fraction,
        _parsed_option(_transpose_range, transpose, "--transpose"),
        min_count,
        styles=styles,
    )

    def progress(iterator, total):
        return tqdm(
            iterator, total=total, desc="prepare", unit="file", disable=None, file=sys.stderr
        )

    report = prepare_dataset(list(corpus), output, config, jobs=jobs, progress=progress)
    for piece in report.skipped:  # every one, as tokenize names them: a user fixes each
        click.echo(f"error: {piece.error}", err=True)
    train, valid = report.counts["train"], report.counts["valid"]
    click.echo(
        f"{output}: {count(report.files - len(report.skipped), 'file')}, "
        f"vocabulary {report.vocab_size}; "
        f"train {count(train['pieces'], 'piece')}, {count(train['tokens'], 'token')}; "
        f"valid {count(valid['pieces'], 'piece')}, {count(valid['tokens'], 'token')}"
    )
    if not train["pieces"]:
        click.echo(
            "warning: the training split is empty: `evaluate` can score this dataset, "
            "`train` cannot (lower --valid-fraction)",
            err=True,
        )
    elif lopsided := lopsided_split(train["tokens"], valid["tokens"]):
        click.echo(f"warning: {lopsided}", err=True)
    told = RepairsTold()
    for piece in report.repaired:
        told(piece.repairs)
    told.summary()
    if report.skipped:
        click.echo(
            f"error: skipped {count(len(report.skipped), 'file')} of {report.files}",
            err=True,
        )
        sys.exit(1)


# -- train / evaluate / predict -----------------------------------------------------------


class Duration(click.ParamType):
    """A length of time like 90s, 30m, 1.5h (or plain seconds), as seconds: finite and
    positive, so that a bad --time fails as a usage error naming the option."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600}

    def convert(self, value, param, ctx):
        text = str(value)
        unit = self.UNITS.get(text[-1:].lower())
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1)
        except ValueError:
            self.fail(f"{value!r} is not a duration like 90s, 30m or 2h", param, ctx)
        if not (math.isfinite(seconds) and seconds > 0):
            self.fail(f"{value!r} is not a positive length of time", param, ctx)
        return seconds


@main.command()
@click.argument("data", type=click.Path())
@click.option(
    "-o",
    "--output",
    "model_dir",
    required=True,
    type=click.Path(),
    help="Model folder to write (or to continue, with --resume).",
)
@click.option(
    "--cell", type=click.Choice(["lstm", "gru", "rnn"]), default="lstm", show_default=True
)
@click.option("--layers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--hidden", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--embed", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--dropout", type=Finite(0, 1, max_open=True), default=0.1, show_default=True)
@click.option(
    "--tie/--no-tie",
    default=True,
    show_default=True,
    help="Share the embedding with the output layer.",
)
@click.option(
    "--bptt",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Steps per truncated-BPTT window.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--lr",
    type=Finite(min=0, min_open=True),
    default=2e-3,
    show_default=True,
    help="Peak learning rate (Adam).",
)
@click.option(
    "--clip",
    type=Finite(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Gradient norm clip.",
)
@click.option(
    "--warmup",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Warm-up steps; then the rate decays as 1/sqrt(step).",
)
@click.option("--steps", type=click.IntRange(min=1), help="Train for N steps in all.")
@click.option("--epochs", type=click.IntRange(min=1), help="Train for N epochs in all.")
@click.option(
    "--time", "duration", type=Duration(), help="Train for this long in all: 90s, 30m, 2h."
)
@click.option(
    "--eval-every",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Validate every N steps (and keep the best model).",
)
@click.option("--resume", is_flag=True, help="Continue MODEL to the new target.")
@click.option(
    "--init",
    "init",
    type=click.Path(exists=True, file_okay=False),
    help="Start from this model's weights and architecture (fine-tuning it on DATA, "
    "which must have its vocabulary: prepared the same way).",
)
@click.option(
    "--checkpoint-every",
    type=Duration(),
    default="5m",
    show_default=True,
    help="Save what --resume needs this often: 90s, 5m, 1h.",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--seed", type=SEED, default=1234, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="bf16 autocast, weights and optimizer in fp32; auto: bf16 where the CPU or GPU has it.",
)
@click.option(
    "--scheme",
    type=click.Choice(["event", "chunk", "text"]),
    help="Token scheme when DATA is a folder of files (default: event for MIDI, "
    "text for anything else).",
)
def train(
    data: str,
    model_dir: str,
    cell: str,
    layers: int,
    hidden: int,
    embed: int,
    dropout: float,
    tie: bool,
    bptt: int,
    batch_size: int,
    lr: float,
    clip: float,
    warmup: int,
    steps: int | None,
    epochs: int | None,
    duration: float | None,
    eval_every: int,
    resume: bool,
    init: str | None,
    checkpoint_every: float,
    device: str,
    seed: int,
    precision: str,
    scheme: str | None,
) -> None:
    """Train a recurrent model on DATA: a dataset from `prepare`, or a folder of
    MIDI files or word text (prepared on the fly).

    Writes MODEL/ with config.json, model.safetensors (the best model by
    validation loss), the checkpoint --resume needs, log.csv and loss.png.
    It checkpoints every few minutes and on Ctrl-C.  Without --steps,
    --epochs or --time it trains for one epoch.  A file of a folder DATA that
    cannot be read is reported and left out; the exit status is then 1.

    \b
    Examples:
      midigen train data/ -o models/mine --time 30m
      midigen train midi/ -o models/small --hidden 128 --embed 64 --steps 2000
      midigen train data/ -o models/mine --resume --time 1h
      midigen train data/ -o models/tuned --init models/default --lr 5e-4 --time 20m
      torchrun --nproc_per_node 2 -m midigen train data/ -o models/ddp --epochs 3
    """
    from tqdm import tqdm

    with _interrupts_held():
        from .model.distributed import is_main_process
        from .model.train import TrainConfig, recorded_recipe
        from .model.train import train as run_training

    if sum(target is not None for target in (steps, epochs, duration)) > 1:
        raise click.UsageError("give one of --steps, --epochs and --time")
    if resume:
        _refuse_recipe_changes(recorded_recipe(model_dir))
    if init is not None:
        _refuse_architecture(init)
    config = TrainConfig(
        bptt=bptt,
        batch_size=batch_size,
        lr=lr,
        clip=clip,
        warmup=warmup,
        steps=steps,
        epochs=epochs,
        time_seconds=duration,
        eval_every=eval_every,
        checkpoint_seconds=checkpoint_every,
        seed=seed,
        device=device,
        precision=precision,
        init=init,
    )
    architecture = {
        "cell": cell,
        "layers": layers,
        "hidden": hidden,
        "embed": embed,
        "dropout": dropout,
        "tie_weights": tie,
    }
    bar = None

    def progress(state, loss, speed, target):
        nonlocal bar
        kind, total = target
        if bar is None:
            bar = tqdm(
                total=total if kind != "seconds" else round(total),
                unit=kind[:-1],
                file=sys.stderr,
                dynamic_ncols=True,
                # a --time run counts seconds: a rate of seconds per second says nothing
                **({"bar_format": TIME_BAR} if kind == "seconds" else {}),
            )
        done = {"steps": state.step, "epochs": state.epoch, "seconds": round(state.seconds)}[kind]
        bar.set_postfix(  # before the update that draws it: drawn after, it lagged a step
            loss=f"{loss:.3f}",
            ppl=f"{math.exp(min(loss, 50)):.1f}",
            tok_s=f"{speed:,.0f}",
            step=state.step,
            refresh=False,
        )
        bar.update(max(0, min(done, bar.total) - bar.n))

    def say(line: str) -> None:
        (bar.write if bar is not None else click.echo)(line, file=sys.stderr)

    scoring = None  # a validation's bar, while one runs (at a terminal only)

    def validating(done: int, total: int) -> None:
        nonlocal scoring
        if scoring is None:
            scoring = tqdm(
                total=total,
                desc="validating",
                unit="token",
                unit_scale=True,
                leave=False,
                disable=None,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        scoring.update(done - scoring.n)
        if done >= total:
            scoring.close()
            scoring = None

    left_out: list[str] = []
    repaired = RepairsTold()  # each file's line comes before the first step

    def leave_out(error: str) -> None:  # an error line each, as prepare prints them
        left_out.append(error)
        say(f"error: {error}")

    try:
        result = run_training(
            data,
            model_dir,
            config,
            architecture,
            resume=resume,
            scheme=scheme,
            progress=progress,
            notify=lambda message: say(f"warning: {message}"),
            skipped=leave_out,
            validating=validating,
            repaired=repaired,
        )
    finally:
        for shown in (scoring, bar):
            if shown is not None:
                shown.close()
    if not is_main_process():  # under torchrun, process 0 reports for all
        return
    best = (
        f", best validation loss {result.best_valid_loss:.4f} at step {result.best_step}"
        if (result.best_valid_loss is not None)
        else ""
    )
    click.echo(  # the result, on stdout as every command's
        f"{model_dir}: {count(result.step, 'step')}, {count(result.epoch, 'epoch')}, "
        f"{result.seconds:.0f} s{best}"
    )
    repaired.summary()
    if result.interrupted:
        typed = click.get_current_context().meta[COMMAND_LINE]
        again = typed + ([] if "--resume" in typed else ["--resume"])
        click.echo(
            f"interrupted: saved at step {result.step}; to go on, run "
            f"`{shlex.join(['midigen', *again])}` (with the same or a larger target)",
            err=True,
        )
        sys.exit(130)
    if left_out:  # trained without them: say so, as prepare does
        click.echo(
            f"error: skipped {count(len(left_out), 'file')} that could not be read; "
            "the model trained on the rest",
            err=True,
        )
        sys.exit(1)


def _check_midi_name(output: str, hint: str) -> None:
    """A usage error for an -o that is no MIDI file's name; ``hint`` says what to do."""
    name = Path(output).name.lower()
    if name in (".mid", ".midi"):
        raise click.BadParameter(f"{output!r} needs a name before its suffix", param_hint="-o")
    if Path(name).suffix not in (".mid", ".midi"):
        raise click.BadParameter(f"must end in .mid or .midi{hint}", param_hint="-o")


# train's options by the recipe field they set, where the names differ
RECIPE_OPTIONS = {"tie": "tie_weights"}


ARCHITECTURE_OPTIONS = ("cell", "layers", "hidden", "embed", "dropout", "tie")


def _typed(context: click.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not left at its default)."""
    return context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _refuse_architecture(init: str) -> None:
    """A usage error for an architecture option given with --init, which takes the
    model's."""
    context = click.get_current_context()
    for param in context.command.params:
        if param.name in ARCHITECTURE_OPTIONS and _typed(context, param.name):
            raise click.BadParameter(
                f"--init trains {init}'s network, whose architecture is its own: leave the "
                "option out",
                param=param,
            )


def _refuse_recipe_changes(recorded: Recipe | None) -> None:
    """A usage error for an option given to --resume that differs from the run it
    continues, which --resume takes whatever it is given (train.recorded_recipe)."""
    if recorded is None:
        return
    context = click.get_current_context()
    fields = {**recorded.training, **recorded.architecture, "scheme": recorded.scheme}
    for param in context.command.params:
        field = RECIPE_OPTIONS.get(param.name, param.name)
        given = context.params[param.name]
        if field in fields and _typed(context, param.name) and given != fields[field]:
            was = fields[field]
            if isinstance(param, click.Option) and param.is_flag and param.secondary_opts:
                was = param.opts[0] if was else param.secondary_opts[0]  # --tie, --no-tie
            raise click.BadParameter(
                f"the model trained with {was}, and --resume continues its recipe: "
                "leave the option out, or train a new model",
                param=param,
            )


@main.command()
@click.argument("model_dir", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def evaluate(model_dir: str, data: str, as_json: bool) -> None:
    """Score MODEL on DATA: a dataset's validation split (all of the dataset if it has
    none, as `prepare --valid-fraction 0` makes for held-out files), or every file in a
    folder.

    Prints loss per token, perplexity, bits per note (comparable across token
    schemes) and next-token accuracy.

    \b
    Examples:
      midigen evaluate models/default data/
      midigen evaluate models/default midi/ --json
    """
    from tqdm import tqdm

    from .model.trained import load_model

    skipped: list[str] = []
    with tqdm(
        desc="evaluate", unit="token", unit_scale=True, disable=None, file=sys.stderr, leave=False
    ) as bar:

        def progress(scored: int, expected: int) -> None:
            bar.total = expected
            bar.update(scored - bar.n)

        with _interrupts_held():  # torch loads as the model's network is built
            model = load_model(model_dir)
            model.network  # noqa: B018
        repaired = RepairsTold()
        metrics = model.evaluate(data, skipped=skipped.append, progress=progress, repaired=repaired)
    for error in skipped:
        click.echo(f"error: {error}", err=True)
    repaired.summary()
    if as_json:
        click.echo(json.dumps(metrics.to_dict(), indent=2))
    else:
        bits = "n/a" if metrics.bits_per_note is None else f"{metrics.bits_per_note:.3f}"
        click.echo(
            f"loss {metrics.loss:.4f} nats/token, perplexity {metrics.perplexity:.2f}, "
            f"bits per note {bits}, accuracy {metrics.accuracy:.3f} "
            f"({metrics.tokens} tokens, {metrics.notes} notes)"
        )
    if skipped:  # scored without them: say so, as prepare does
        click.echo(
            f"error: skipped {count(len(skipped), 'file')} that could not be read",
            err=True,
        )
        sys.exit(1)


@contextmanager
def _sampling_progress() -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr for sampling, fed the share done.

    Shown at a terminal once the work has taken PROGRESS_DELAY: an hour of four band
    pieces sampled for 7 minutes with no sign of life.
    """
    from tqdm import tqdm

    with tqdm(
        total=100,
        desc="sampling",
        unit="%",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        delay=PROGRESS_DELAY,
        leave=False,  # gone once done: the lines naming each piece follow
        disable=None,
        file=sys.stderr,
    ) as bar:

        def progress(share: float) -> None:
            bar.update(round(100 * share) - bar.n)

        yield progress


def _read_saying_repairs(path: str) -> Song:
    """The song, read as players read it, with a warning line for each thing the reader
    mended or passed over (a truncated track, a running status with none to run), as
    `info` lists them: the music may not be what its writer meant.

    Raises:
        UntimedError: its ticks cannot be converted to seconds, which every command that
            reads a file this way needs: the reader's own word on it, where in the file
            it is, and no warning line saying the same before it.
    """
    from .midi.reader import read
    from .midi.timing import check_timed

    song = read(path)
    try:
        check_timed(song)
    except UntimedError as error:
        raise error.with_path(path) from None
    for warning in _named_warnings(song, Path(path))[:MAX_WARNINGS]:
        click.echo(f"warning: {warning}", err=True)
    if len(song.warnings) > MAX_WARNINGS:
        click.echo(f"warning: {path}: ... {len(song.warnings) - MAX_WARNINGS} more", err=True)
    return song


@main.command()
@click.argument("model_dir", type=click.Path())
@click.option("--prime", type=click.Path(), help="A MIDI file whose tokens come first.")
@click.option("--tokens", "text", help='Tokens to continue, e.g. "the cat sat on".')
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
def predict(model_dir: str, prime: str | None, text: str | None, top: int) -> None:
    """Show the most likely next tokens after a prime, one per line: TOKEN  probability.

    \b
    Examples:
      midigen predict models/words --tokens "the cat sat on"
      midigen predict models/default --prime samples/pop909_455.mid --top 5
    """
    from .model.trained import load_model
    from .tokens.grammar import HEADER as EVENT_HEADER

    if prime is not None and text is not None:
        raise click.UsageError("give --prime or --tokens, not both")
    if text is not None and not text.split():
        raise click.BadParameter("holds no tokens", param_hint="--tokens")
    if prime is not None:
        _read_saying_repairs(prime)  # and any error in it, before the model loads
    model = load_model(model_dir)
    tokens = model.prime_tokens(prime) if prime is not None else (text or "").split()
    if prime is None and text is None and model.scheme == "event":
        tokens = [EVENT_HEADER]
    unknown = model.unknown_tokens(tokens)
    if unknown:
        shown = ", ".join(dict.fromkeys(unknown[:5]))
        click.echo(
            f"warning: {count(len(unknown), 'token')} not in the model's vocabulary, "
            f"read as <unk>: {shown}",
            err=True,
        )
    ranking = model.predict(tokens, top)
    width = max((len(token) for token, _ in ranking), default=0)
    for token, probability in ranking:
        click.echo(f"{token:<{width}}  {probability:.3f}")


@main.command("model")
@click.argument("model_dir", type=click.Path(), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print config.json's summary as JSON.")
def model_command(model_dir: str | None, as_json: bool) -> None:
    """Show what a model folder holds: styles, vocabulary, size, training data and metrics.
    Without MODEL_DIR, the model `generate` uses (the shipped one, or $MIDIGEN_MODEL).

    \b
    Examples:
      midigen model
      midigen model models/mine --json
    """
    from .model.trained import load_model

    folder = model_dir or str(default_model())
    model = load_model(folder)
    summary = model.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    architecture, data, training = summary["model"], summary["data"], summary["training"]
    metrics = summary["metrics"]
    styles = ", ".join(
        f"{name} ({count(files, 'file')})" if files else name
        for name, files in data["styles"].items()
    )
    lines = [
        folder,
        f"  {summary['scheme']} tokens, vocabulary {summary['vocabulary']}, "
        f"styles: {styles or 'none'}",
        f"  {architecture['cell']}, {count(architecture['layers'], 'layer')}, hidden "
        f"{architecture['hidden']}, embedding {architecture['embed']}"
        f"{', tied' if architecture['tie_weights'] else ''}; "
        f"{summary['parameters'] / 1e6:.2f} M parameters ({summary['megabytes']:.1f} MB)",
    ]
    if training:
        steps = training.get("steps_done")
        split = (data.get("counts") or {}).get("train", {}).get("tokens")
        window = training.get("batch_size", 0) * training.get("bptt", 0)
        seen = steps * window if steps and window else None
        lines.append(
            f"  trained {count(steps, 'step') if steps else '? steps'} in "
            f"{_minutes(training.get('seconds', 0))} "
            f"on {data.get('files', '?')} files: "
            f"{'?' if seen is None else _millions(seen)} tokens seen of a training split "
            f"of {'?' if split is None else _millions(split)}"
        )
    if metrics.get("loss") is not None:
        bits = metrics.get("bits_per_note")
        lines.append(
            f"  validation: loss {metrics['loss']:.3f}, perplexity {metrics['perplexity']:.2f}, "
            f"bits per note {'n/a' if bits is None else f'{bits:.2f}'}, "
            f"accuracy {metrics['accuracy']:.3f}"
        )
    click.echo("\n".join(lines))


def _millions(tokens: int) -> str:
    """A token count as `model` says it: 140.0 M, 0.018 M, 0.0040 M."""
    if not tokens:
        return "0 M"
    decimals = max(1, 1 - math.floor(math.log10(tokens / 1e6)))  # two digits of a small one
    return f"{tokens / 1e6:.{decimals}f} M"


def _minutes(seconds: float) -> str:
    """A training time as `model` says it: 40 s, 1.5 min for a 90-s run, 148 min."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"


# -- generate / render / compare -------------------------------------------------------------


# generate and infill sample alike
temperature_option = click.option(
    "--temperature",
    type=Finite(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Below 1: safer; above 1: wilder.",
)


@main.command()
@click.option(
    "-m",
    "--model",
    "model_dir",
    type=click.Path(),
    help="Model folder (default: $MIDIGEN_MODEL, else the shipped models/default).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="MIDI file to write; with --num N above 1: OUT-1.mid ... OUT-N.mid.",
)
@click.option("--prime", type=click.Path(), help="Start with this MIDI file and continue it.")
@click.option(
    "--prime-seconds",
    type=Finite(min=0),
    default=10.0,
    show_default=True,
    help="How much of the prime to keep.",
)
@click.option(
    "--length",
    default="60s",
    show_default=True,
    help="Whole piece, prime included: 60s, 16bars or 2000tokens (at most 1h, 1000bars).",
)
@temperature_option
@click.option(
    "--top-k",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Sample among the K likeliest tokens (0: all).",
)
@click.option(
    "--top-p",
    type=Finite(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Sample among the likeliest tokens covering P.",
)
@click.option(
    "--num",
    type=click.IntRange(1, MAX_PIECES),
    default=1,
    show_default=True,
    help="Pieces to write, each different (sampled as one batch).",
)
@click.option("--seed", type=SEED, help="The same seed gives the same bytes.")
@click.option(
    "--style",
    help="A style the model learned (`midigen model MODEL` lists them); by default the "
    "model picks one, and a prime keeps its own.",
)
@click.option("--key", help="Keep pitched notes in this key: C, Am, F#m, Bb...")
@click.option("--density", help="Notes per second: low, medium, high, or a number.")
@click.option(
    "--instruments",
    help="Only these play: GM names, families (piano, bass, strings...), program numbers "
    "0-127, drums; comma-separated.",
)
@click.option("--no-drums", is_flag=True, help="No drum kit.")
@click.option(
    "--free",
    is_flag=True,
    help="The model unsteered: tempo and meter may change mid-piece, no kept key (nor an "
    "ending on its tonic), pulse, register or ensemble (and, with --prime, the "
    "instruments change too).",
)
@click.option("--wav", is_flag=True, help="Also render OUT.wav (SoundFont preview).")
@click.option("--png", is_flag=True, help="Also draw OUT.png (piano roll).")
def generate(
    model_dir: str | None,
    output: str,
    prime: str | None,
    prime_seconds: float,
    length: str,
    temperature: float,
    top_k: int,
    top_p: float,
    num: int,
    seed: int | None,
    style: str | None,
    key: str | None,
    density: str | None,
    instruments: str | None,
    no_drums: bool,
    free: bool,
    wav: bool,
    png: bool,
) -> None:
    """Write new music as MIDI, from scratch or continuing a prime.

    A continuation keeps its prime's instruments and tempo, unless
    --instruments names others or --free lets them change.

    \b
    Examples:
      midigen generate -o song.mid
      midigen generate -o song.mid --length 16bars --temperature 0.9 --seed 7
      midigen generate -o song.mid --key Am --density low --instruments piano,strings
      midigen generate -o ideas.mid --num 4 --png
      midigen generate -o more.mid --prime samples/pop909_455.mid --prime-seconds 15
    """
    import random

    from .midi.gm import Instruments
    from .midi.keys import Key
    from .midi.writer import write
    from .model.sample import Length, Sampling, Steering
    from .model.trained import load_model, notes_per_second
    from .views.render import MAX_AUDIO_SECONDS, render_audio, render_png
    from .views.summary import longest_meter, summarize

    def _rate(text: str) -> float:  # a number Steering accepts
        return Steering(density=notes_per_second(text)).density

    _check_midi_name(output, " (add --wav for audio, or use `midigen render`)")
    if prime is None and _typed(click.get_current_context(), "prime_seconds"):
        raise click.UsageError("--prime-seconds says how much of a --prime to keep: give one")
    piece_length = _parsed_option(Length.parse, length, "--length")
    if wav and piece_length.unit == "seconds" and piece_length.amount > MAX_AUDIO_SECONDS:
        raise click.BadParameter(
            f"--wav previews stop at {MAX_AUDIO_SECONDS // 60} minutes", param_hint="--length"
        )
    sampling = Sampling(temperature=temperature, top_k=top_k, top_p=top_p)
    named = (
        None
        if instruments is None
        else _parsed_option(Instruments.parse, instruments, "--instruments")
    )
    if no_drums and named is not None and not named.programs:
        raise click.BadParameter(
            "drums are the only instruments named, and --no-drums takes them away",
            param_hint="--instruments",
        )
    steering = {
        "key": None if key is None else _parsed_option(Key.parse, key, "--key"),
        "density": None if density is None else _parsed_option(_rate, density, "--density"),
        "instruments": named,
        "drums": not no_drums,
        "free": free,
    }
    target, inputs = Path(output), [Path(prime)] if prime else []
    paths = [
        target if num == 1 else target.with_name(f"{target.stem}-{index}{target.suffix}")
        for index in range(1, num + 1)
    ]
    previews = [suffix for suffix, asked in ((".wav", wav), (".png", png)) if asked]
    for path in paths:  # every one before the work: a tenth that cannot be would stop at it
        for output_path in (path, *(path.with_suffix(suffix) for suffix in previews)):
            check_output(output_path, inputs)
    if prime:
        _read_saying_repairs(prime)  # and any error in it, before the model loads
    model = load_model(model_dir or default_model())
    if style is not None:  # an unknown style fails before anything is written
        _parsed_option(model.style_token, style, "--style")
    drawn = seed is None
    if drawn:
        seed = random.SystemRandom().randrange(2**31)
    with _sampling_progress() as progress:
        pieces = model.generate_pieces(
            num=num,
            length=piece_length,
            prime=prime,
            prime_seconds=prime_seconds,
            sampling=sampling,
            seed=seed,
            style=style,
            progress=progress,
            **steering,
        )
    if drawn:
        click.echo(f"seed {seed} (--seed {seed} makes this again)", err=True)
    written: dict[bytes, Path] = {}
    for path, (song, drawn_style) in zip(paths, pieces, strict=True):
        data = write(song)
        write_atomic(path, data, inputs=inputs)
        if data in written:  # a prime that leaves no room: nothing was drawn
            click.echo(
                f"warning: {path} is the same as {written[data]}: ask for a longer --length",
                err=True,
            )
        written.setdefault(data, path)
        summary = summarize(song)  # a walk over the events: pretty_midi refuses hours of them
        notes, sounding = summary["notes"], summary["tracks_with_notes"]
        named = len({part["name"] for part in summary["instruments"]})  # two pianos: one
        tracks = f" in {count(sounding, 'track')}" if sounding != named else ""
        # what a DAW project needs set to play along: its key (and the one a continuation
        # asked for another ends in), meter and tempo
        named_keys = summary["keys"]
        keys = "".join(f", {key}" for key in named_keys[:1])
        keys += f" then {named_keys[-1]}" if len(named_keys) > 1 else ""
        meter = longest_meter(song) or "4/4"
        slowest, fastest = min(summary["tempi_bpm"]), max(summary["tempi_bpm"])  # a prime's
        tempo = f"{slowest:g}" if slowest == fastest else f"{slowest:g}-{fastest:g}"
        kind = f" of {drawn_style}" if drawn_style else ""  # the style: --style gives more
        click.echo(
            f"{path}: {summary['duration_seconds'] or 0.0:.1f} s{kind}, {count(notes, 'note')}, "
            f"{count(named, 'instrument')}{tracks}{keys}, {meter} at {tempo} bpm"
        )
        if not notes:
            click.echo(f"warning: {path} has no notes: ask for a longer --length", err=True)
        preview = path
        try:  # a piece of bars or tokens may last too long for a preview (its MIDI is written)
            if wav:
                preview = path.with_suffix(".wav")
                render_audio(song, preview)
            if png:
                preview = path.with_suffix(".png")
                render_png(song, preview, title=path.name)
        except MidiError as error:
            raise error.with_path(preview) from None


@main.command()
@click.argument("song", type=click.Path())
@click.option("--bars", help="Bars to regenerate, 1-based, both included: 5-8.")
@click.option("--seconds", help="Or seconds: 10-20.")
@click.option("-o", "--output", required=True, type=click.Path(), help="MIDI file to write.")
@click.option(
    "-m",
    "--model",
    "model_dir",
    type=click.Path(),
    help="Model folder (default: $MIDIGEN_MODEL, else the shipped one).",
)
@click.option(
    "--candidates",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Spans to sample; the one that leads best into what follows is kept.",
)
@temperature_option
@click.option("--seed", type=SEED, help="The same seed gives the same bytes.")
@click.option("--png", is_flag=True, help="Also draw OUT.png: before and after, the span shaded.")
def infill(
    song: str,
    bars: str | None,
    seconds: str | None,
    output: str,
    model_dir: str | None,
    candidates: int,
    temperature: float,
    seed: int | None,
    png: bool,
) -> None:
    """Regenerate the notes that start inside a span of SONG; keep everything else as it was.

    Every note outside the span (pitch, start, end, velocity, instrument),
    every tempo and time signature stays; notes that start before the span
    and ring into it stay too.  K candidate spans are sampled from what
    comes before, and the one under which the model finds what follows
    likeliest is kept (K times the work of one).  A song timed in SMPTE
    frames has no beats: its --bars are 2 s long (4/4 at 120 bpm).

    \b
    Examples:
      midigen infill song.mid --bars 5-8 -o song-new.mid
      midigen infill song.mid --seconds 10-20 -o song-new.mid --candidates 16 --seed 3
    """
    import random

    from .midi.writer import write
    from .model.infill import Span
    from .model.sample import Sampling
    from .model.trained import load_model
    from .views.render import render_png

    if bars is not None and seconds is not None:
        raise click.UsageError("give the span with --bars A-B or --seconds A-B, not both")
    if bars is None and seconds is None:
        raise click.UsageError("give the span with --bars A-B or --seconds A-B")
    _check_midi_name(output, "")
    span = _parsed_option(
        lambda text: Span.parse(text, "bars" if bars else "seconds"),
        bars or seconds,
        "--bars" if bars else "--seconds",
    )
    for output_path in (Path(output), *([Path(output).with_suffix(".png")] if png else [])):
        check_output(output_path, [Path(song)])  # before the work, not after it
    original = _read_saying_repairs(song)
    model = load_model(model_dir or default_model())
    drawn = seed is None
    if drawn:
        seed = random.SystemRandom().randrange(2**31)
    try:
        with _sampling_progress() as progress:
            edited = model.infill(
                original,
                **{span.unit: (span.first, span.last)},
                candidates=candidates,
                sampling=Sampling(temperature=temperature),
                seed=seed,
                progress=progress,
            )
    except MidiError as error:  # the span against this song: name the song
        raise error.with_path(song) from None
    if drawn:
        click.echo(f"seed {seed} (--seed {seed} makes this again)", err=True)
    write_atomic(output, write(edited), inputs=[Path(song)])
    click.echo(
        f"{output}: {span.unit if span.first != span.last else span.unit[:-1]} "
        f"{span.first:.10g}{f'-{span.last:.10g}' if span.first != span.last else ''} regenerated "
        f"({count(candidates, 'candidate')})"
    )
    if png:
        from .midi.timing import TempoMap
        from .model.infill import span_ticks

        tempo_map = TempoMap(original)
        first, last = (tempo_map.seconds(tick) for tick in span_ticks(original, span))
        picture = Path(output).with_suffix(".png")
        render_png(edited, picture, title=Path(output).name, before=original, shade=(first, last))


@main.command()
@click.argument("file", type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="OUT.wav or OUT.opus for audio, OUT.png for a piano roll.",
)
@click.option(
    "--soundfont",
    type=click.Path(),
    help="SoundFont for audio (default: pretty_midi's General MIDI font).",
)
def render(file: str, output: str, soundfont: str | None) -> None:
    """Render a MIDI file as audio (WAV, peak at -1 dBFS; or Opus) or a piano-roll picture.

    \b
    Examples:
      midigen render song.mid -o song.wav
      midigen render song.mid -o song.opus
      midigen render song.mid -o song.png
      midigen render song.mid -o song.wav --soundfont FluidR3_GM.sf2
    """
    from .views.render import AUDIO_SUFFIXES, render_audio, render_png

    suffix = Path(output).suffix.lower()
    if suffix not in (*AUDIO_SUFFIXES, ".png"):
        raise click.UsageError("-o must end in .wav, .opus or .png")
    check_output(output, [Path(file)])
    song = _read_saying_repairs(file)
    try:
        if suffix in AUDIO_SUFFIXES:
            seconds = render_audio(song, output, soundfont)
            click.echo(f"{output}: {seconds:.1f} s of audio")
        else:
            render_png(song, output, title=Path(file).name)
            click.echo(f"{output}: piano roll")
    except MidiError as error:  # about the song: name it
        raise error.with_path(file) from None


@main.command(cls=ManyValued, many_valued=("--reference", "--train"))
@click.argument("generated", nargs=-1, required=True, type=click.Path())
@click.option(
    "--reference",
    multiple=True,
    required=True,
    type=click.Path(),
    help="Real music to compare with: the files and folders that follow it.",
)
@click.option(
    "--train",
    "training",
    multiple=True,
    type=click.Path(),
    help="The model's training files and folders that follow it: also report how much "
    "of each set is copied from them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def compare(
    generated: tuple[str, ...], reference: tuple[str, ...], training: tuple[str, ...], as_json: bool
) -> None:
    """How much generated music resembles real music, statistic by statistic.

    For the first 30 s of every piece: pitch-class entropy, pitch range, mean
    pitch, notes per second, polyphony, inter-onset interval, note duration,
    velocity and scale consistency.  The overlap (0..1) says how much the
    spread of a statistic over GENERATED matches its spread over the
    reference (Yang & Lerch 2020).  With --train, the share of 16-note runs
    (pitch intervals and onset spacing, so transposed copies count) found in
    the training files, and the longest copied run, for both sets: generated
    music should copy no more than real music shares with the corpus.

    \b
    Examples:
      midigen compare out/ --reference midi/
      midigen compare song-*.mid --reference real/*.mid --json
      midigen compare out/ --reference held-out/ --train corpus/
    """
    from .views.compare import FEWEST_PIECES
    from .views.compare import compare as compare_sets
    from .views.notes import midi_notes
    from .views.rhythm import medians, rhythm

    skipped: list[str] = []
    our_midis = _load_midis(generated, skipped, scored=True)
    their_midis = _load_midis(reference, skipped, scored=True)
    if not our_midis or not their_midis:
        raise MidiError("compare needs readable MIDI files with notes on both sides")
    ours = [midi_notes(midi) for midi in our_midis]
    theirs = [midi_notes(midi) for midi in their_midis]
    result = compare_sets(ours, theirs)
    if min(result.pieces) < FEWEST_PIECES:
        click.echo(
            f"warning: an overlap measures how a statistic spreads over pieces; with "
            f"{result.pieces[0]} generated and {result.pieces[1]} reference it says little "
            f"(use {FEWEST_PIECES} or more on each side)",
            err=True,
        )
    rhythms = {
        "generated": medians([rhythm(midi) for midi in our_midis]),
        "reference": medians([rhythm(midi) for midi in their_midis]),
    }
    copied = _copying(training, ours, theirs, skipped) if training else None
    if as_json:
        report = {**result.to_dict(), "rhythm_medians": rhythms}
        if copied:
            report["copying"] = {name: found.to_dict() for name, found in copied.items()}
        click.echo(json.dumps(report, indent=2))
    else:
        _print_comparison(result, rhythms, copied)
    if skipped:  # compared without them: say so, as prepare does
        click.echo(f"error: left out {count(len(skipped), 'file')}", err=True)
        sys.exit(1)


def _print_comparison(result, rhythms: dict, copied: dict | None) -> None:
    """compare's report as tables: statistics, rhythm, and copying if measured."""
    click.echo(f"{'statistic':<22} {'generated':>18} {'reference':>18} {'overlap':>8}")

    def shown(mean: float | None, spread: float | None) -> str:
        return "no pitch" if mean is None else f"{mean:.2f} ± {spread:.2f}"

    for name, row in result.rows.items():
        ours_spread = shown(row["generated_mean"], row["generated_std"])
        theirs_spread = shown(row["reference_mean"], row["reference_std"])
        overlap = "n/a" if row["overlap"] is None else f"{row['overlap']:.2f}"
        click.echo(f"{name:<22} {ours_spread:>18} {theirs_spread:>18} {overlap:>8}")
    click.echo(
        f"mean overlap {result.mean_overlap:.3f} "
        f"({result.pieces[0]} generated, {result.pieces[1]} reference pieces)"
    )
    click.echo(f"{'rhythm (median)':<26} {'generated':>10} {'reference':>10}")
    for name in rhythms["generated"]:
        ours_value, theirs_value = rhythms["generated"][name], rhythms["reference"][name]
        click.echo(f"{name:<26} {ours_value:>10.2f} {theirs_value:>10.2f}")
    if copied:
        ours_copied, theirs_copied = copied["generated"], copied["reference"]
        click.echo(
            f"copied from the training files (16-note runs): generated "
            f"{ours_copied.copied_share:.1%}, longest {ours_copied.longest_run} notes; "
            f"reference {theirs_copied.copied_share:.1%}, longest {theirs_copied.longest_run} notes"
        )


def _copying(training: tuple[str, ...], ours: list, theirs: list, skipped: list[str]) -> dict:
    from .views.copying import copying, corpus_runs
    from .views.notes import midi_notes

    midis = _load_midis(training, skipped, progress="training files")
    if not midis:
        raise MidiError("--train holds no readable MIDI files")
    corpus = corpus_runs(midi_notes(midi) for midi in midis)
    return {"generated": copying(ours, corpus), "reference": copying(theirs, corpus)}


def _load_midis(
    inputs: tuple[str, ...], skipped: list[str], scored: bool = False, progress: str | None = None
) -> list:
    """Every MIDI file as pretty_midi reads it (through midigen's tolerant reader); one that
    cannot be read is reported, added to ``skipped`` and left out, and so is one with no
    notes where its statistics are ``scored`` (they would be 0 or none).

    ``progress`` names the files for a progress bar (a training corpus is large).
    """
    from tqdm import tqdm

    from .midi.reader import read
    from .views.notes import pretty

    midis = []
    jobs = find_inputs(inputs, MIDI_SUFFIXES)
    bar = tqdm(
        jobs, desc=progress, unit="file", disable=None if progress else True, file=sys.stderr
    )
    for job in bar:
        try:
            song = read(job.source)
            if song.warnings:  # a line a file, as prepare says them: a corpus may hold many
                bar.write(_repairs_line(_named_warnings(song, Path(job.source))), sys.stderr)
            midi = pretty(song)
            if scored and not any(instrument.notes for instrument in midi.instruments):
                raise MidiError("has no notes to compare", path=job.source)
            midis.append(midi)
        except MidiError as error:
            message = str(error.with_path(job.source))
            click.echo(f"error: {message}", err=True)
            skipped.append(message)
    return midis
