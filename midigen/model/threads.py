"""How many threads torch runs a loop's steps on: as many as run them fastest now.

Training and evaluation both time their steps on one thread and on all every
so often (``ThreadTrials``), for the fastest count depends on what else the
machine is doing more than on the model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import torch

THREAD_TRIAL_STEPS = 2  # steps timed on each thread count in a trial
THREAD_TRIAL_WAITS = (60.0, 960.0)  # seconds to the next trial: at first, and at most
THREAD_TRIAL_GIVE_UP = 3.0  # a count whose step takes this many times the best is dropped


def same_on_any_count(compute: Callable[[], list[torch.Tensor]], threads: int) -> bool:
    """Whether ``compute`` gives the same bits on one thread and on ``threads``: the
    condition for letting ThreadTrials choose a count by speed alone.  Each run starts
    from the same seed (the same dropout), and the random state is left as it was.

    On a CPU whose bf16 kernels (AVX-512 BF16) or fp32 ones sum alike on any count
    a network's gradients agree; on an AVX2 CPU, two training runs of one seed parted
    after 7 steps of a tiny model, when the trials had put a step on another count.
    """
    original, results = torch.get_num_threads(), []
    with torch.random.fork_rng():
        for used in (1, threads):
            torch.set_num_threads(used)
            torch.manual_seed(0)
            results.append(compute())
    torch.set_num_threads(original)
    return all(torch.equal(*pair) for pair in zip(*results, strict=True))


class ThreadTrials:
    """How many threads torch gives a loop's steps (training's, or the windows of an
    evaluation): as many as run them fastest now.

    On an idle 2-core machine two threads train 1.6x faster than one; but
    while other processes keep the cores busy, bf16 steps on two threads
    crawl (each thread spins, waiting for the other to be scheduled): 12
    steps of the default model took 134 s on two threads beside two busy
    loops, against 8 s on one.  So a trial times THREAD_TRIAL_STEPS steps on
    one thread and on all, the steps after it run on the faster, and the next
    trial comes a minute later, or twice as long after a trial that changed
    nothing.  A count whose step takes THREAD_TRIAL_GIVE_UP times the best is
    not timed again in that trial, so a trial under load costs one slow step.

    The weights must not depend on the count, or neither would a --seed's
    nor a --resume's: the trials run only where one thread and all compute
    the network's gradients to the same bits (``same_on_any_count``;
    tests/test_train.py checks the whole run), and elsewhere every step runs
    on torch's own count.
    """

    def __init__(self, counts: tuple[int, ...]) -> None:
        self.counts = counts  # none to choose from: torch keeps its own
        self.original = torch.get_num_threads()
        # one thread until a trial has timed the others: the validation before the first
        # step, under load, took 46 s on two threads where the steps took 0.7 s on one
        self.chosen = counts[0] if counts else None
        self.wait = THREAD_TRIAL_WAITS[0]
        self.next_trial = 0.0  # on the clock passed to begin and end
        self.trial: list[int] = []  # the counts of the trial's steps still to time
        self.took: dict[int, list[float]] = {}

    def begin(self, now: float) -> None:
        """Before a step: start a trial when one is due, and set the step's count."""
        if not self.counts:
            return
        if not self.trial and now >= self.next_trial:
            self.trial = [count for count in self.counts for _ in range(THREAD_TRIAL_STEPS)]
            self.took = {count: [] for count in self.counts}
        self.use(self.trial[0] if self.trial else self.chosen)

    def use(self, threads: int | None = None) -> None:
        """Give torch ``threads``, by default the chosen count."""
        threads = threads or self.chosen
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def end(self, seconds: float, now: float) -> None:
        """After a step of ``seconds``: count it to its trial, and choose when it is done."""
        if not self.trial:
            return
        count = self.trial.pop(0)
        self.took[count].append(seconds)
        if seconds > THREAD_TRIAL_GIVE_UP * min(min(t) for t in self.took.values() if t):
            self.trial = [other for other in self.trial if other != count]
        if self.trial:
            return
        fastest = min(self.took, key=lambda n: statistics.fmean(self.took[n] or [math.inf]))
        same = fastest == self.chosen
        self.wait = min(2 * self.wait, THREAD_TRIAL_WAITS[1]) if same else THREAD_TRIAL_WAITS[0]
        self.chosen, self.next_trial = fastest, now + self.wait
        self.use()

    def restore(self) -> None:
        """Give torch back the count it had."""
        self.use(self.original)
