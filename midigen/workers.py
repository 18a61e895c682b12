"""Work spread over processes, which a Ctrl-C stops without a hang or a traceback.

A Ctrl-C at a terminal sends SIGINT to every process of the command.  A
worker that took it died mid-file with a traceback (2 in 6 runs of a
folder's tokenize interrupted twice).  And a Ctrl-C that reached the main
process while ProcessPoolExecutor shut down left its workers waiting for
work and the command waiting for them, forever (2-4 in 10 runs under
``timeout -s INT``, which signals the command twice).  So here the workers
ignore SIGINT and the main process alone takes it: it hands out no more
work, cancels nothing (cancelling races the pool's own thread,
python/cpython#94440), and waits with further interrupts held back for the
few chunks in hand, each a bounded piece of work, to finish.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import TypeVar

from .fileio import interrupts_deferred

Item = TypeVar("Item")
Result = TypeVar("Result")

CHUNKS_PER_WORKER = 2  # in hand at once: one being worked, one waiting


def process_map(
    work: Callable[[Item], Result], items: Iterable[Item], workers: int, chunksize: int = 4
) -> Iterator[Result]:
    """``map(work, items)`` on ``workers`` processes, in chunks of ``chunksize`` items,
    results in order; ``work`` and the items must pickle.  Closing the iterator early
    (or a Ctrl-C) waits for the chunks in hand and starts no more."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)
    in_hand: deque[Future[list[Result]]] = deque()
    items = iter(items)
    try:
        while chunk := list(islice(items, chunksize)):
            with interrupts_deferred():  # the pool starts its workers on the first
                in_hand.append(pool.submit(_work_chunk, work, chunk))
            if len(in_hand) >= CHUNKS_PER_WORKER * workers:
                yield from in_hand.popleft().result()
        while in_hand:
            yield from in_hand.popleft().result()
    finally:
        with interrupts_deferred():  # a second Ctrl-C here left the workers waiting forever
            pool.shutdown()


def _work_chunk(work: Callable[[Item], Result], chunk: list[Item]) -> list[Result]:
    return [work(item) for item in chunk]


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
