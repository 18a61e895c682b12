"""weights + prime -> event tokens: sampling streams that always decode to playable music.

The network runs in NumPy (model/stepper.py).  Before each draw the sampler
masks the tokens that cannot come next: what the grammar allows after the
last token (tokens/grammar.py: a NOTE is followed by its VEL and a DUR, a
TEMPO by its TFINE digits), and a few limits of its own that keep the music
playable and a model from getting stuck: notes inside their instrument's
range (midi/gm.py), a first note within the first beat, no more than a
handful of notes on one step, no more than a band's worth of instruments,
no ``<eos>`` before the requested length.  The decoder (tokens/event.py)
then ends every note and caps its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MidiError
from ..midi.gm import PROGRAM_RANGES
from ..tokens.grammar import (
    DURATION,
    FINE,
    FOLLOWERS,
    FREE,
    HEADER,
    STEPS_PER_BEAT,
    VELOCITY,
    Cursor,
    parse_token,
)
from ..tokens.vocab import EOS, Vocab
from .stepper import Stepper

MAX_ONSETS_PER_STEP = 12  # notes starting together; more is a model stuck in place
MAX_PROGRAMS = 8  # instruments in one piece (drums aside): a band, not a channel sweep
BATCH_FOR_TWO_THREADS = 4  # streams from which the matrix products use two BLAS threads


class Masks:
    """The event grammar's FOLLOWERS as boolean masks over a vocabulary's ids."""

    def __init__(self, vocab: Vocab) -> None:
        parsed = [_parsed(token) for token in vocab.tokens]
        self.kinds = [kind for kind, _ in parsed]
        self.values = [value for _, value in parsed]
        kinds = np.array(self.kinds)
        self.after = {expect: np.isin(kinds, names) for expect, names in FOLLOWERS.items()}
        self.onsets = np.isin(kinds, ("NOTE", "DRUM", "PROGRAM"))
        self.programs = kinds == "PROGRAM"
        notes = kinds == "NOTE"
        pitches = np.array([value if kind == "NOTE" else -1 for kind, value in parsed])
        # playable[program]: every token but the NOTEs outside that instrument's range
        self.playable = np.array(
            [~notes | ((low <= pitches) & (pitches <= high)) for low, high in PROGRAM_RANGES]
        )
        shifts = np.array([value if kind == "SHIFT" else 0 for kind, value in parsed])
        # shorter_than[n]: every token but the SHIFTs of n steps or more
        self.shorter_than = np.array([shifts < max(n, 1) for n in range(STEPS_PER_BEAT + 1)])
        self.eos_id = vocab.ids[EOS]
        self.eos = np.zeros(len(vocab), bool)
        self.eos[self.eos_id] = True


def _parsed(token: str) -> tuple[str, object]:
    try:
        return parse_token(token)
    except ValueError:  # <pad>, <unk>, <eos>
        return token, None


@dataclass
class Stream:
    """One stream being sampled: where it stands in the music, and the sampler's counters."""

    cursor: Cursor = field(default_factory=Cursor)
    lead_in: bool = True  # the first note must start within the first beat (no prime)
    tokens: int = 0  # tokens after the header, prime included
    sounded: bool = False  # a note has begun
    onsets_here: int = 0  # notes begun on the current step
    programs: set[int] = field(default_factory=set)  # ids of PROGRAM tokens used
    finished: bool = False

    def advance(self, token_id: int, masks: Masks) -> None:
        """Move on by one token of the vocabulary."""
        self.tokens += 1
        kind = masks.kinds[token_id]
        if kind == "SHIFT":
            self.onsets_here = 0
        elif kind == "NOTE" or kind == "DRUM":
            self.onsets_here += 1
            self.sounded = True
        elif kind == "PROGRAM":
            self.programs.add(token_id)
        self.cursor.feed(kind, masks.values[token_id])

    def allowed(self, masks: Masks, length_reached: bool) -> np.ndarray:
        """Which ids may come next: the grammar's, narrowed by the sampler's limits."""
        expect = self.cursor.expect
        if expect in (VELOCITY, DURATION, FINE):
            return masks.after[expect]
        allowed = masks.after[expect] & masks.playable[self.cursor.program]
        if self.lead_in and not self.sounded:  # no silent lead-in: start within the first beat
            allowed &= masks.shorter_than[max(STEPS_PER_BEAT - self.cursor.step, 0)]
        if self.onsets_here >= MAX_ONSETS_PER_STEP:
            allowed &= ~masks.onsets
        if len(self.programs) >= MAX_PROGRAMS:  # only the programs already in use
            allowed &= ~masks.programs
            allowed[list(self.programs)] = True
        if length_reached:
            allowed |= masks.eos
        return allowed


# -- lengths --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Length:
    """How long a piece should be: seconds, bars or tokens (the prime included)."""

    amount: float
    unit: str  # "seconds", "bars" or "tokens"

    @classmethod
    def parse(cls, text: str) -> Length:
        """'60s', '60', '16bars', '2000tokens', '1.5m'.

        Raises:
            MidiError: not a length, or not positive.
        """
        cleaned = text.strip().lower()
        for suffix, unit, scale in (
            ("tokens", "tokens", 1),
            ("bars", "bars", 1),
            ("bar", "bars", 1),
            ("s", "seconds", 1),
            ("m", "seconds", 60),
        ):
            if cleaned.endswith(suffix):
                cleaned, chosen, factor = cleaned[: -len(suffix)], unit, scale
                break
        else:
            chosen, factor = "seconds", 1
        try:
            amount = float(cleaned) * factor
        except ValueError:
            raise MidiError(f"length {text!r} is not like 60s, 16bars or 2000tokens") from None
        if not amount > 0 or amount == float("inf"):
            raise MidiError(f"length {text!r}: it must be positive and finite")
        return cls(amount, chosen)

    def reached(self, stream: Stream) -> bool:
        cursor = stream.cursor
        done = {"seconds": cursor.seconds, "bars": cursor.bars, "tokens": stream.tokens}
        return done[self.unit] >= self.amount

    def token_budget(self) -> int:
        """A hard stop for a model that never moves time on."""
        per_unit = {"seconds": 120, "bars": 240, "tokens": 1}[self.unit]
        return int(self.amount * per_unit) + 512


# -- sampling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """How to draw each token: temperature, then top-k, then top-p (nucleus)."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise MidiError("temperature must be positive")
        if not 0 < self.top_p <= 1:
            raise MidiError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise MidiError("top_k must be 0 (no limit) or more")


def sample_tokens(
    stepper: Stepper,
    vocab: Vocab,
    prime: list[str],
    *,
    length: Length,
    sampling: Sampling,
    streams: int = 1,
    seed: int | None = None,
) -> list[list[str]]:
    """Continue ``prime`` (event tokens) in ``streams`` independent streams, sampled as one batch.

    One stream runs BLAS on one thread: a vector times a matrix is too small
    to share, and on a busy machine threads that wait for each other cost
    more than they give.  Four streams or more make the products matrices,
    which two threads share well (scripts/bench_generate.py).

    Raises:
        MidiError: the prime does not start with the event header.
    """
    from threadpoolctl import threadpool_limits

    if not prime or prime[0] != HEADER:
        raise MidiError(f"event tokens start with {HEADER}")
    threads = 1 if streams < BATCH_FOR_TWO_THREADS else 2
    with threadpool_limits(limits=threads, user_api="blas"):
        masks = Masks(vocab)
        rng = np.random.default_rng(seed)
        state = stepper.initial_state(streams)
        runs = [Stream(lead_in=len(prime) == 1) for _ in range(streams)]
        outputs = [list(prime) for _ in range(streams)]
        for position, token_id in enumerate(vocab.tokens_to_ids(prime)):
            logits = stepper.step(np.full(streams, token_id), state)
            if position:
                for run in runs:
                    run.advance(token_id, masks)
        budget = length.token_budget()
        while True:
            active, allowed = [], []
            for k, run in enumerate(runs):
                if run.finished:
                    continue
                reached = length.reached(run)
                if (reached and run.cursor.expect == FREE) or run.tokens >= budget:
                    run.finished = True
                    continue
                active.append(k)
                allowed.append(run.allowed(masks, reached))
            if not active:
                return outputs
            chosen = np.zeros(streams, dtype=np.int64)
            chosen[active] = draw(logits[active], np.array(allowed), sampling, rng)
            for k in active:
                if chosen[k] == masks.eos_id:
                    runs[k].finished = True
                    continue
                outputs[k].append(vocab.tokens[chosen[k]])
                runs[k].advance(chosen[k], masks)
            if all(run.finished for run in runs):
                return outputs
            logits = stepper.step(chosen, state)


def draw(
    logits: np.ndarray, allowed: np.ndarray, sampling: Sampling, rng: np.random.Generator
) -> np.ndarray:
    """One id per stream from its allowed tokens, with temperature, top-k and top-p.

    ``logits`` and ``allowed`` are (streams, vocab); every row needs at least
    one allowed token.  The whole batch is drawn with a few array operations,
    so sampling 16 streams costs little more Python than sampling one.  Each
    stream takes one uniform number from ``rng``, in order, and picks the
    first token whose cumulative probability exceeds it, as Generator.choice
    does: by id, or from the likeliest down when top-p sorted them.  Tokens
    tied at the k-th score all stay in the top k.
    """
    scores = np.where(allowed, logits.astype(np.float64) / sampling.temperature, -np.inf)
    if sampling.top_k and sampling.top_k < scores.shape[1]:
        kth = np.partition(scores, -sampling.top_k, axis=1)[:, -sampling.top_k, None]
        scores[scores < kth] = -np.inf
    scores -= scores.max(axis=1, keepdims=True)
    probabilities = np.exp(scores)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    order = None
    if sampling.top_p < 1.0:  # the fewest likeliest tokens that cover top_p
        order = np.argsort(-probabilities, axis=1, kind="stable")
        probabilities = np.take_along_axis(probabilities, order, axis=1)
        covered = np.cumsum(probabilities, axis=1)
        kept = (covered < sampling.top_p).sum(axis=1, keepdims=True) + 1
        probabilities[np.arange(probabilities.shape[1]) >= kept] = 0.0
        probabilities /= probabilities.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    uniform = rng.random(len(cumulative))
    picked = (cumulative <= uniform[:, None]).sum(axis=1)
    if order is None:
        return picked
    return order[np.arange(len(picked)), picked]
