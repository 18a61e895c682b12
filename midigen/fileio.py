"""Paths in, paths out: finding input files in folders, and atomic writes.

Outputs go to a temporary file in the target folder and are renamed into
place, so a crash or Ctrl-C never leaves a half-written file, and an output
that would replace one of the inputs is refused.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import MidiError

MIDI_SUFFIXES = (".mid", ".midi", ".rmi", ".kar", ".smf")
TEXT_SUFFIXES = (".txt",)


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes (relative to the output root)."""

    source: Path
    relative: Path


def find_inputs(inputs: Iterable[str | os.PathLike[str]], suffixes: tuple[str, ...]) -> list[Job]:
    """Expand files and folders into jobs; a folder contributes the files under it.

    Files named directly are taken whatever their suffix; inside folders only
    files with one of ``suffixes`` (any case) count, in sorted order.

    Raises:
        MidiError: an input does not exist.
    """
    jobs: list[Job] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
            )
            jobs += [Job(path, path.relative_to(item)) for path in found]
        elif item.exists():
            jobs.append(Job(item, Path(item.name)))
        else:
            raise MidiError("no such file or folder", path=item)
    return jobs


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str, inputs: Iterable[Path] = ()
) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename.

    Raises:
        MidiError: ``path`` is one of ``inputs`` or cannot be a file (check_output), or
            the file system refuses.
    """
    path = Path(path)
    check_output(path, inputs)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with interrupts_deferred():
            handle, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(payload)
                os.chmod(temporary, 0o666 & ~umask())  # mkstemp makes 0600 files
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
    except OSError as error:
        raise MidiError(f"cannot write: {error.strerror or error}", path=path) from error


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until it ends.

    A KeyboardInterrupt inside mkstemp, after it has made the file and before
    it returns the name, would leave that file behind; writing a folder of
    small files spends much of its time there (4 in 10 interrupts of a
    folder's tokenize left one).  Only the main thread can set handlers; in
    others the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # (None: a handler set outside Python, which could not be put back)
        return
    received: list[tuple] = []
    signal.signal(signal.SIGINT, lambda *details: received.append(details))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(*received[0])
        elif received and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def check_output(path: str | os.PathLike[str], inputs: Iterable[Path] = ()) -> None:
    """Check, before any work, that ``path`` can take an output: it is not one of
    ``inputs`` (however it is spelled: ``missing/../song.mid`` is ``song.mid``, and a hard
    link is the file), not a folder, and no file stands where a folder on its way should
    be.

    Raises:
        MidiError: it cannot.
    """
    path = Path(path)
    try:
        for source in inputs:
            if path.resolve() == Path(source).resolve() or (
                path.exists() and Path(source).exists() and path.samefile(source)
            ):  # the same name, or another name of the same file (a hard link)
                raise MidiError("refusing to overwrite an input file", path=path)
    except (OSError, RuntimeError) as error:  # a symlink loop (RuntimeError in 3.11)
        raise MidiError(f"cannot follow its links: {error}", path=path) from None
    if path.is_dir():
        raise MidiError("is a folder; name a file to write", path=path)
    for parent in path.parents:  # the nearest that exists must be a folder
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise MidiError(f"{parent} is not a folder", path=path)
            break


def umask() -> int:
    """The process umask (temporary files and folders are created private)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    A FIFO, a device (a symlink to /dev/zero) or a folder is refused before
    it is opened: reading one can block forever or never end.  The size is
    checked before reading, and the read stops at the limit in case the file
    grows meanwhile.

    Raises:
        MidiError: the file is missing, not a regular file, or too large.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise MidiError("not a regular file", path=path)
        if info.st_size > limit:
            raise MidiError(f"{info.st_size:,} bytes: larger than the {limit:,} allowed", path=path)
        with open(path, "rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError as error:  # worded as find_inputs words it
        raise MidiError("no such file", path=path) from error
    except OSError as error:
        raise MidiError(f"cannot read: {error.strerror or error}", path=path) from error
    if len(data) > limit:
        raise MidiError(f"larger than the {limit:,} bytes allowed", path=path)
    return data
