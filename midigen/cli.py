"""Command line (`midigen`): parse, call one function, report.

Only this module knows click.  Library errors (MidiError) become one line
``error: <file>: <what> (track N, byte M)`` on stderr and exit status 1;
``--debug`` re-raises them with the traceback.  Usage errors stay click's
(exit 2).  Heavy modules (torch, numpy, tqdm) are imported inside the
commands that need them, so `midigen --help` and `midigen info` start fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click

from . import __version__
from .errors import MidiError, count
from .fileio import MIDI_SUFFIXES, TEXT_SUFFIXES, Job, find_inputs, write_atomic


class CommandError(click.ClickException):
    """A MidiError on its way out: printed as ``error: ...``, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


class MidigenGroup(click.Group):
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
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
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
      midigen info song.mid
      midigen tokenize song.mid > song.txt
      midigen tokenize midi/ -o tokens/ --jobs 2
      midigen detokenize song.txt -o song.mid

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
    """Show format, division, tracks, events, notes, duration, tempi and instruments.

    FILES may be MIDI files or folders of them.

    \b
    Examples:
      midigen info song.mid
      midigen info midi/ --json > summary.json
    """
    from .reader import read
    from .summary import summarize

    results = []
    failed = False
    for job in find_inputs(files, MIDI_SUFFIXES):
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
        f"  instruments: {instruments or 'none'}",
    ]
    lines += [f"  warning: {warning}" for warning in summary["warnings"][:5]]
    if len(summary["warnings"]) > 5:
        lines.append(f"  ... {len(summary['warnings']) - 5} more warnings")
    return "\n".join(lines)


# -- tokenize / detokenize ----------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One file to convert; ``destination`` None means: return the output for stdout."""

    source: Path
    destination: Path | None
    options: tuple
    debug: bool = False


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

    One input and no -o writes the tokens to stdout.  A folder (or several
    inputs) needs -o OUT and writes OUT/<same relative path>.txt.  A file
    that cannot be read is reported and skipped; the exit status is then 1.

    \b
    Examples:
      midigen tokenize song.mid
      midigen tokenize song.mid -o song.txt
      midigen tokenize midi/ -o tokens/ --jobs 0
      midigen tokenize song.mid --scheme event
    """
    tasks = _plan(inputs, output, MIDI_SUFFIXES, ".txt", (scheme, strict), settings["debug"])
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
    and no -o writes the MIDI bytes to stdout (not to a terminal).

    \b
    Examples:
      midigen detokenize song.txt -o song.mid
      midigen detokenize tokens/ -o midi/
    """
    tasks = _plan(inputs, output, TEXT_SUFFIXES, ".mid", (), settings["debug"])
    if tasks[0].destination is None and sys.stdout.isatty():
        raise click.UsageError("refusing to write MIDI bytes to a terminal; use -o FILE")
    _run(tasks, _detokenize_task, jobs, "detokenize")


def _plan(
    inputs: tuple[str, ...],
    output: str | None,
    suffixes: tuple[str, ...],
    new_suffix: str,
    options: tuple,
    debug: bool,
) -> list[Task]:
    """Map inputs to outputs: one file to stdout or a file, anything else into a folder."""
    jobs = find_inputs(inputs, suffixes)
    single_file = len(inputs) == 1 and not Path(inputs[0]).is_dir()
    if single_file:
        destination = None
        if output is not None:
            destination = Path(output)
            if destination.is_dir():
                destination = destination / Path(inputs[0]).with_suffix(new_suffix).name
        return [Task(jobs[0].source, destination, options, debug)]
    if output is None:
        raise click.UsageError("a folder or several inputs need -o OUTPUT_FOLDER")
    root = Path(output)
    if root.exists() and not root.is_dir():
        raise click.UsageError(f"-o {output}: not a folder")
    if not jobs:
        raise MidiError(f"no {'/'.join(suffixes)} files found", path=", ".join(inputs))
    return [Task(job.source, root / _with_suffix(job, new_suffix), options, debug) for job in jobs]


def _with_suffix(job: Job, suffix: str) -> Path:
    return job.relative.with_suffix(suffix)


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
        if workers == 1:
            results = map(work, tasks)
            for outcome in results:
                progress.update()
                yield outcome
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(work, tasks, chunksize=4):
                progress.update()
                yield outcome


def _tokenize_task(task: Task) -> Outcome:
    from .reader import read
    from .tokens import tokenize, tokens_to_text

    scheme, strict = task.options
    try:
        song = read(task.source, strict=strict)
        text = tokens_to_text(tokenize(song, scheme))
        return _deliver(task, text.encode("utf-8"), tuple(map(str, song.warnings)))
    except MidiError as error:
        if task.debug:
            raise
        return Outcome(task.source, error=str(error))


def _detokenize_task(task: Task) -> Outcome:
    from .tokens import detokenize
    from .writer import write

    try:
        try:
            text = task.source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise MidiError("not UTF-8 token text", path=task.source) from None
        except OSError as error:
            raise MidiError(f"cannot read: {error.strerror}", path=task.source) from None
        try:
            song = detokenize(text)
        except MidiError as error:
            raise error.with_path(task.source) from None
        return _deliver(task, write(song), ())
    except MidiError as error:
        if task.debug:
            raise
        return Outcome(task.source, error=str(error))


def _deliver(task: Task, data: bytes, warnings: tuple[str, ...]) -> Outcome:
    if task.destination is None:
        return Outcome(task.source, output=data, warnings=warnings)
    write_atomic(task.destination, data, inputs=[task.source])
    return Outcome(task.source, warnings=warnings)


# -- prepare -------------------------------------------------------------------------


def _transpose_range(value: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in value.split(".."))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LO..HI, e.g. -5..6") from None
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
    type=click.FloatRange(0, 1, max_open=True),
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
def prepare(
    corpus: tuple[str, ...],
    output: str,
    scheme: str,
    valid_fraction: float,
    transpose: str,
    min_count: int,
    jobs: int,
) -> None:
    """Turn folders of MIDI files (or token text, or word text) into a training dataset.

    Writes OUTPUT/ with vocab.json, meta.json, train.npy, valid.npy and the
    piece offsets.  A file that cannot be read is reported and skipped; the
    rest of the corpus is still prepared (exit status 1 if any was skipped).

    \b
    Examples:
      midigen prepare midi/ -o data/
      midigen prepare midi/ more_midi/ -o data/ --transpose -5..6
      midigen prepare books/ -o words/ --scheme text --min-count 3
    """
    from tqdm import tqdm

    from .dataset import PrepareConfig
    from .dataset import prepare as prepare_dataset

    config = PrepareConfig(scheme, valid_fraction, _transpose_range(transpose), min_count)

    def progress(iterator, total):
        return tqdm(
            iterator, total=total, desc="prepare", unit="file", disable=None, file=sys.stderr
        )

    report = prepare_dataset(list(corpus), output, config, jobs=jobs, progress=progress)
    for piece in report.skipped[:5]:
        click.echo(f"error: {piece.error}", err=True)
    train, valid = report.counts["train"], report.counts["valid"]
    click.echo(
        f"{output}: {report.files - len(report.skipped)} files, vocabulary {report.vocab_size}; "
        f"train {train['pieces']} pieces, {train['tokens']} tokens; "
        f"valid {valid['pieces']} pieces, {valid['tokens']} tokens"
    )
    if report.skipped:
        click.echo(
            f"error: skipped {count(len(report.skipped), 'file')} of {report.files}"
            + (" (first 5 shown)" if len(report.skipped) > 5 else ""),
            err=True,
        )
        sys.exit(1)
