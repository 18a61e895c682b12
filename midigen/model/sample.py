"""model -> tokens: sampling event tokens that always decode to playable music.

Two things make sampling fast and safe:

- ``Stepper`` runs the trained network one token at a time in NumPy.  A
  PyTorch call per token costs more in overhead than the arithmetic of a
  512-unit LSTM; here the first layer's input projection is a table lookup
  (embedding times input weights, computed once) and each step is a handful
  of matrix products (scripts/bench_generate.py measures it against a plain
  nn.LSTM loop).
- ``Grammar`` masks the tokens that cannot come next: a NOTE is followed by
  its VEL and a DUR, a TEMPO by its three TFINE digits, no header or padding
  mid-piece, no ``<eos>`` before the requested length, no more than a
  handful of notes on one step.  The decoder (tokens/event.py) then ends
  every note and caps its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MidiError
from ..tokens import event as scheme
from ..tokens.vocab import EOS, Vocab
from .network import LanguageModel

MAX_ONSETS_PER_STEP = 12  # notes starting together; more is a model stuck in place
MAX_PROGRAMS = 8  # instruments in one piece (drums aside): a band, not a channel sweep
MICROSECONDS = 1e6


# -- the network, one step at a time ------------------------------------------------------


class Stepper:
    """The network's forward pass for a batch of streams, one token per call."""

    def __init__(self, network: LanguageModel) -> None:
        config = network.config
        weights = {
            k: v.detach().cpu().numpy().astype(np.float32) for k, v in network.state_dict().items()
        }
        self.cell, self.layers, self.hidden = config.cell, config.layers, config.hidden
        self.input_weights = []
        self.hidden_weights = []
        self.input_bias = []
        self.hidden_bias = []
        for layer in range(config.layers):
            self.input_weights.append(np.ascontiguousarray(weights[f"rnn.weight_ih_l{layer}"].T))
            self.hidden_weights.append(np.ascontiguousarray(weights[f"rnn.weight_hh_l{layer}"].T))
            self.input_bias.append(weights[f"rnn.bias_ih_l{layer}"])
            self.hidden_bias.append(weights[f"rnn.bias_hh_l{layer}"])
        # Layer 0's input projection for every token: one row lookup per step.
        table = weights["embedding.weight"] @ self.input_weights[0] + self.input_bias[0]
        if self.cell != "gru":  # a GRU keeps the hidden bias apart (it is gated by r)
            table += self.hidden_bias[0]
        self.first_layer_table = np.ascontiguousarray(table)
        self.projection = (
            np.ascontiguousarray(weights["projection.weight"].T)
            if "projection.weight" in weights
            else None
        )
        output = weights.get("output.weight", weights["embedding.weight"])
        self.output_weights = np.ascontiguousarray(output.T)
        self.output_bias = weights["output.bias"]

    def initial_state(self, batch: int) -> list[np.ndarray]:
        shape = (self.layers, batch, self.hidden)
        state = [np.zeros(shape, np.float32)]
        if self.cell == "lstm":
            state.append(np.zeros(shape, np.float32))
        return state

    def step(self, ids: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        """Advance every stream by its token ``ids`` (batch,); return logits (batch, vocab)."""
        x = None
        for layer in range(self.layers):
            if layer == 0:
                projected = self.first_layer_table[ids]
            else:
                projected = x @ self.input_weights[layer] + self.input_bias[layer]
                if self.cell != "gru":
                    projected += self.hidden_bias[layer]
            x = self._cell(layer, projected, state)
        if self.projection is not None:
            x = x @ self.projection
        return x @ self.output_weights + self.output_bias

    def _cell(self, layer: int, projected: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        h = state[0][layer]
        recurrent = h @ self.hidden_weights[layer]
        if self.cell == "lstm":
            gates = projected + recurrent
            i, f, g, o = np.split(gates, 4, axis=1)
            c = _sigmoid(f) * state[1][layer] + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            state[1][layer] = c
        elif self.cell == "gru":
            recurrent += self.hidden_bias[layer]
            r_in, z_in, n_in = np.split(projected, 3, axis=1)
            r_h, z_h, n_h = np.split(recurrent, 3, axis=1)
            r, z = _sigmoid(r_in + r_h), _sigmoid(z_in + z_h)
            h = (1 - z) * np.tanh(n_in + r * n_h) + z * h
        else:
            h = np.tanh(projected + recurrent)
        state[0][layer] = h
        return h


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # one tanh: cheaper than exp and overflow-free


# -- what may come next -------------------------------------------------------------------


class Grammar:
    """Token classes of the event vocabulary and the masks the sampler applies."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        kinds = np.array([token.partition("_")[0] for token in vocab.tokens])
        self.kind_of = kinds
        size = len(vocab)

        def mask(*names: str) -> np.ndarray:
            return np.isin(kinds, names)

        self.free = mask("SHIFT", "PROGRAM", "NOTE", "DRUM", "PEDAL", "TEMPO", "TIMESIG")
        self.notes = mask("NOTE", "DRUM", "PROGRAM")
        self.programs = mask("PROGRAM")
        self.velocity = mask("VEL")
        self.duration = mask("DUR")
        self.fine = mask("TFINE")
        self.eos = np.zeros(size, bool)
        self.eos[vocab.ids[EOS]] = True
        self.long_duration = np.array(
            [t.startswith("DUR_") and int(t[4:]) > scheme.MAX_SHIFT for t in vocab.tokens]
        )
        self.values = np.array([_value(token) for token in vocab.tokens])


def _value(token: str) -> int:
    tail = token.rpartition("_")[2]
    return int(tail) if tail.isdigit() else 0


@dataclass
class Clock:
    """Where one stream stands in musical time, and what token kind it expects."""

    steps: int = 0
    seconds: float = 0.0
    tempo_us: int = 500_000
    bar_steps: int = 4 * scheme.STEPS_PER_BEAT
    bars: float = 0.0
    onsets_here: int = 0
    expect: str = "free"  # free, velocity, duration, more_duration, fine
    tempo_digits: list[int] | None = None
    tokens: int = 0
    finished: bool = False
    programs: set[int] = field(default_factory=set)

    def advance(self, token: str, grammar: Grammar, token_id: int) -> None:
        """Update time and expectations after ``token``."""
        self.tokens += 1
        kind = grammar.kind_of[token_id]
        value = int(grammar.values[token_id])
        if self.expect == "fine":
            self.tempo_digits.append(value)
            if len(self.tempo_digits) == scheme.TEMPO_DIGITS:
                self.tempo_us = _tempo(self.tempo_digits)
                self.expect = "free"
            return
        if kind == "SHIFT":
            self.steps += value
            beats = value / scheme.STEPS_PER_BEAT
            self.seconds += beats * self.tempo_us / MICROSECONDS
            self.bars += value / self.bar_steps
            self.onsets_here = 0
            self.expect = "free"
        elif kind in ("NOTE", "DRUM"):
            self.onsets_here += 1
            self.expect = "velocity"
        elif kind == "VEL":
            self.expect = "duration"
        elif kind == "DUR":
            self.expect = "more_duration" if value > scheme.MAX_SHIFT else "free"
        elif kind == "TEMPO":
            self.tempo_digits = [value]
            self.expect = "fine"
        elif kind == "PROGRAM":
            self.programs.add(token_id)
            self.expect = "free"
        elif kind == "TIMESIG":
            numerator, denominator = (int(part) for part in token.split("_")[1:])
            self.bar_steps = max(1, numerator * 4 * scheme.STEPS_PER_BEAT // denominator)
            self.expect = "free"
        else:
            self.expect = "free"

    def allowed(self, grammar: Grammar, length_reached: bool) -> np.ndarray:
        if self.expect == "velocity":
            return grammar.velocity
        if self.expect == "duration":
            return grammar.duration
        if self.expect == "fine":
            return grammar.fine
        allowed = grammar.free.copy()
        if self.expect == "more_duration":
            allowed |= grammar.duration
        if self.onsets_here >= MAX_ONSETS_PER_STEP:
            allowed &= ~grammar.notes
        if len(self.programs) >= MAX_PROGRAMS:  # only the programs already in use
            allowed &= ~grammar.programs
            allowed[list(self.programs)] = True
        if length_reached:
            allowed |= grammar.eos
        return allowed


# -- lengths --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Length:
    """How long a piece should be: seconds, bars or tokens (the prime included)."""

    amount: float
    unit: str  # "seconds", "bars" or "tokens"

    @classmethod
    def parse(cls, text: str) -> Length:
        """'60s', '60', '16bars', '2000tokens', '1.5m'."""
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
        if amount <= 0:
            raise MidiError("the length must be positive")
        return cls(amount, chosen)

    def reached(self, clock: Clock) -> bool:
        done = {"seconds": clock.seconds, "bars": clock.bars, "tokens": clock.tokens}
        return done[self.unit] >= self.amount

    def token_budget(self) -> int:
        """A hard stop for a model that never moves time on."""
        per_unit = {"seconds": 120, "bars": 240, "tokens": 1}[self.unit]
        return int(self.amount * per_unit) + 512


# -- sampling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise MidiError("temperature must be positive")
        if not 0 < self.top_p <= 1:
            raise MidiError("top-p must be in (0, 1]")
        if self.top_k < 0:
            raise MidiError("top-k must be 0 (no limit) or more")


def sample_tokens(
    network: LanguageModel,
    vocab: Vocab,
    prime: list[str],
    length: Length,
    sampling: Sampling,
    streams: int,
    seed: int | None,
) -> list[list[str]]:
    """Continue ``prime`` (event tokens) in ``streams`` independent streams.

    BLAS runs on one thread here: a vector times a matrix is too small to
    share, and threads that wait for each other cost more than they give.
    """
    from threadpoolctl import threadpool_limits

    if not prime or prime[0] != scheme.HEADER:
        raise MidiError(f"event tokens start with {scheme.HEADER}")
    with threadpool_limits(limits=1, user_api="blas"):
        grammar = Grammar(vocab)
        stepper = Stepper(network)
        rng = np.random.default_rng(seed)
        state = stepper.initial_state(streams)
        clocks = [Clock() for _ in range(streams)]
        outputs = [list(prime) for _ in range(streams)]
        ids = np.array([vocab.ids[token] for token in prime])
        for position, token_id in enumerate(ids):
            logits = stepper.step(np.full(streams, token_id), state)
            if position:
                for clock in clocks:
                    clock.advance(prime[position], grammar, token_id)
        budget = length.token_budget()
        while not all(clock.finished for clock in clocks):
            chosen = np.zeros(streams, dtype=np.int64)
            for k, clock in enumerate(clocks):
                if clock.finished:
                    continue
                reached = length.reached(clock)
                if (reached and clock.expect == "free") or clock.tokens >= budget:
                    clock.finished = True
                    continue
                chosen[k] = _draw(logits[k], clock.allowed(grammar, reached), sampling, rng)
                token = vocab.tokens[chosen[k]]
                if token == EOS:
                    clock.finished = True
                    continue
                outputs[k].append(token)
                clock.advance(token, grammar, chosen[k])
            if all(clock.finished for clock in clocks):
                break
            logits = stepper.step(chosen, state)
        return [
            _trim_tail(tokens, clock.steps + scheme.STEPS_PER_BEAT)
            for tokens, clock in zip(outputs, clocks, strict=True)
        ]


def _trim_tail(tokens: list[str], end: int) -> list[str]:
    """Shorten notes that would ring on more than a beat past the end of the piece."""
    trimmed: list[str] = []
    now, k = 0, 0
    while k < len(tokens):
        token = tokens[k]
        kind, _, value = token.partition("_")
        trimmed.append(token)
        k += 1
        if kind == "SHIFT":
            now += int(value)
        elif kind in ("NOTE", "DRUM") and k < len(tokens) and tokens[k].startswith("VEL_"):
            trimmed.append(tokens[k])
            k += 1
            length = 0
            while k < len(tokens) and tokens[k].startswith("DUR_"):
                length += int(tokens[k][4:])
                k += 1
            trimmed += scheme.duration_tokens(min(length, max(end - now, 0)))
    return trimmed


def _draw(
    logits: np.ndarray, allowed: np.ndarray, sampling: Sampling, rng: np.random.Generator
) -> int:
    """Sample one id from the allowed tokens with temperature, top-k and top-p."""
    candidates = np.flatnonzero(allowed)
    scores = logits[candidates].astype(np.float64) / sampling.temperature
    if sampling.top_k and sampling.top_k < len(candidates):
        keep = np.argpartition(scores, -sampling.top_k)[-sampling.top_k :]
        candidates, scores = candidates[keep], scores[keep]
    scores -= scores.max()
    probabilities = np.exp(scores)
    probabilities /= probabilities.sum()
    if sampling.top_p < 1.0:
        order = np.argsort(-probabilities, kind="stable")
        cumulative = np.cumsum(probabilities[order])
        cut = int(np.searchsorted(cumulative, sampling.top_p)) + 1
        order = order[:cut]
        candidates, probabilities = candidates[order], probabilities[order]
        probabilities /= probabilities.sum()
    return int(candidates[rng.choice(len(candidates), p=probabilities)])


def prime_tokens(tokens: list[str], seconds: float) -> list[str]:
    """The event tokens of a piece up to ``seconds`` (what `--prime-seconds` keeps).

    When the piece goes on past ``seconds``, time is moved on to that point,
    so what the model adds starts after the kept part.
    """
    tempo_us, now = 500_000, 0.0
    digits: list[int] | None = None
    kept = [tokens[0]]
    for token in tokens[1:]:
        kind, _, value = token.partition("_")
        if token == EOS:
            break
        if kind == "SHIFT":
            after = now + int(value) / scheme.STEPS_PER_BEAT * tempo_us / MICROSECONDS
            if after > seconds + 1e-9:
                steps = round((seconds - now) * MICROSECONDS / tempo_us * scheme.STEPS_PER_BEAT)
                kept += _shifts(steps)
                break
            now = after
        elif kind == "TEMPO":
            digits = [int(value)]
        elif kind == "TFINE" and digits is not None:
            digits.append(int(value))
            if len(digits) == scheme.TEMPO_DIGITS:
                tempo_us, digits = _tempo(digits), None
        kept.append(token)
    return kept


def _shifts(steps: int) -> list[str]:
    shifts = [f"SHIFT_{scheme.MAX_SHIFT}"] * (steps // scheme.MAX_SHIFT)
    return shifts + ([f"SHIFT_{steps % scheme.MAX_SHIFT}"] if steps % scheme.MAX_SHIFT else [])


def _tempo(digits: list[int]) -> int:
    """Base-64 tempo digits (TEMPO_a TFINE_b TFINE_c TFINE_d) -> microseconds per beat."""
    tempo = 0
    for digit in digits:
        tempo = tempo << 6 | digit
    return max(tempo, 1)
