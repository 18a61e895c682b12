"""weights -> logits, one token at a time: the network's forward pass in NumPy, for sampling.

A PyTorch call per token costs more in overhead than the arithmetic of a
512-unit LSTM, and importing torch alone takes longer than generating a
piece.  So sampling runs the trained weights here, with the same equations
as nn.LSTM, nn.GRU and nn.RNN (gate order i, f, g, o and r, z, n, as the
PyTorch docs give them); tests/test_stepper.py checks the logits against the
PyTorch network for every cell.  Layer 0's input projection is a table
lookup (embedding times input weights, computed once), and each step is a
handful of matrix products (scripts/bench_generate.py measures it);
``ThreadTuned`` runs them on as many BLAS threads as run them fastest.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

import numpy as np

from .config import ModelConfig

COLUMNS_FOR_MATRIX_PRODUCT = 4  # fewer columns run as vector products (_product)
TUNE_BLOCK_STEPS = 16  # steps on one BLAS thread count, then the next (ThreadTuned)
TUNE_ROUNDS = 2  # blocks per thread count
# batches smaller than this are tuned: their products come out the same to the bit on one
# thread or two (OpenBLAS splits the rows between threads; from 8 columns its blocks split
# the sums, and the last bits differ), so the choice leaves a seed's music unchanged
TUNED_BELOW = 7


class Stepper:
    """The network's forward pass for a batch of streams, one token per call.

    Activations run as columns, one per stream, (features, batch): each
    product is then a (out, in) weight matrix times a narrow block, which
    OpenBLAS runs 15% faster than the row layout's block times (in, out) at
    16 streams and 42% faster at 4 on this project's 2-core machine
    (scripts/bench_generate.py, before and after the change).
    """

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
        weights = {name: np.asarray(value, np.float32) for name, value in weights.items()}
        self.cell, self.layers, self.hidden = config.cell, config.layers, config.hidden
        self.input_weights = []  # (gates, in) per layer, as PyTorch keeps them
        self.hidden_weights = []
        self.input_bias = []  # (gates, 1): one column, added to every stream's
        self.hidden_bias = []
        for layer in range(config.layers):
            self.input_weights.append(np.ascontiguousarray(weights[f"rnn.weight_ih_l{layer}"]))
            self.hidden_weights.append(np.ascontiguousarray(weights[f"rnn.weight_hh_l{layer}"]))
            self.input_bias.append(weights[f"rnn.bias_ih_l{layer}"][:, None])
            self.hidden_bias.append(weights[f"rnn.bias_hh_l{layer}"][:, None])
        # Layer 0's input projection for every token, a row each: one gather per step reads
        # a token's 8 KB in a run, where a column of the (gates, vocab) table touched a cache
        # line for each of its 2,048 numbers
        table = self.input_weights[0] @ weights["embedding.weight"].T + self.input_bias[0]
        if self.cell != "gru":  # a GRU keeps the hidden bias apart (it is gated by r)
            table += self.hidden_bias[0]
        self.first_layer_rows = np.ascontiguousarray(table.T)
        if self.cell == "lstm":
            self._halve_the_sigmoid_gates()
        self.projection = (
            np.ascontiguousarray(weights["projection.weight"]) if config.has_projection else None
        )
        output = weights["embedding.weight"] if config.tie_weights else weights["output.weight"]
        self.output_weights = np.ascontiguousarray(output)
        self.output_bias = weights["output.bias"][:, None]

    def initial_state(self, batch: int) -> list[np.ndarray]:
        """Zeros: [h] for GRU and RNN, [h, c] for LSTM, each (layers, hidden, batch)."""
        shape = (self.layers, self.hidden, batch)
        state = [np.zeros(shape, np.float32)]
        if self.cell == "lstm":
            state.append(np.zeros(shape, np.float32))
        return state

    def step(self, ids: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        """Advance every stream by its token ``ids`` (batch,); return logits (batch, vocab)."""
        x = None
        for layer in range(self.layers):
            if layer == 0:
                projected = self.first_layer_rows[ids].T
            else:
                projected = _product(self.input_weights[layer], x)
                projected += self.input_bias[layer]
                if self.cell != "gru":
                    projected += self.hidden_bias[layer]
            x = self._cell(layer, projected, state)
        if self.projection is not None:
            x = _product(self.projection, x)
        return (_product(self.output_weights, x) + self.output_bias).T

    def _halve_the_sigmoid_gates(self) -> None:
        """Put an LSTM's gate rows in the order i, f, o, g and halve those of i, f and o.

        Then one tanh over all four gates gives tanh(g) and, for the other three,
        tanh(x / 2), from which sigmoid(x) = (tanh(x / 2) + 1) / 2: two ufunc calls
        where four gate slices took eight.  Halving is exact in binary floating
        point (and commutes with every sum and product), so the logits are the
        same to the bit as without it.
        """
        size = self.hidden
        order = np.r_[0 : 2 * size, 3 * size : 4 * size, 2 * size : 3 * size]
        scale = np.ones((4 * size, 1), np.float32)
        scale[: 3 * size] = 0.5

        def regated(rows: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(rows[order] * scale)

        self.input_weights = [regated(w) for w in self.input_weights]
        self.hidden_weights = [regated(w) for w in self.hidden_weights]
        self.input_bias = [regated(b) for b in self.input_bias]
        self.hidden_bias = [regated(b) for b in self.hidden_bias]
        self.first_layer_rows = np.ascontiguousarray(regated(self.first_layer_rows.T).T)

    def _cell(self, layer: int, projected: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        h = state[0][layer]
        recurrent = _product(self.hidden_weights[layer], h)
        size = self.hidden  # gates are row slices, not np.split: a view costs less than its call
        if self.cell == "lstm":  # rows i, f, o, g, the first three halved
            recurrent += projected
            squashed = np.tanh(recurrent, out=recurrent)
            sigmoids = squashed[: 3 * size]
            sigmoids += 1.0
            sigmoids *= 0.5
            i, f, o, g = (squashed[k * size : (k + 1) * size] for k in range(4))
            c = state[1][layer]
            c *= f
            g *= i
            c += g
            h = np.tanh(c, out=g)
            h *= o
        elif self.cell == "gru":
            recurrent += self.hidden_bias[layer]
            r_in, z_in, n_in = projected[:size], projected[size : 2 * size], projected[2 * size :]
            r_h, z_h, n_h = recurrent[:size], recurrent[size : 2 * size], recurrent[2 * size :]
            r, z = _sigmoid(r_in + r_h), _sigmoid(z_in + z_h)
            h = (1 - z) * np.tanh(n_in + r * n_h) + z * h
        else:
            h = np.tanh(projected + recurrent)
        state[0][layer] = h
        return h


def _product(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``weights @ x``, a column at a time for two or three columns: OpenBLAS's matrix
    product packs the whole weight matrix first, which for a 2048x512 matrix costs
    four vector products (a step of two streams runs 1.6x faster this way)."""
    if 1 < x.shape[1] < COLUMNS_FOR_MATRIX_PRODUCT:
        return np.stack([weights @ column for column in x.T], axis=1)
    return weights @ x


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # one tanh: cheaper than exp and overflow-free


class Steps(Protocol):
    """What the sampler needs of a stepper (tests stand in their own)."""

    def initial_state(self, batch: int) -> list[np.ndarray]: ...

    def step(self, ids: np.ndarray, state: list[np.ndarray]) -> np.ndarray: ...


class ThreadTuned:
    """A stepper whose matrix products run on as many BLAS threads as run them fastest
    on this machine now (one, two or every core), for a batch of fewer than TUNED_BELOW
    streams; a larger batch runs on two, whose sums a thread count would change.

    Which is fastest depends on the machine's load more than on the batch: on
    an idle 2-core machine two threads sample one stream 1.3x faster than
    one, but while another process keeps a core busy they run 2.3x slower
    (each waits for the other), for one stream and for sixteen.  So the first
    steps try each count in turn, in blocks of TUNE_BLOCK_STEPS, twice over,
    and the rest run on the one whose steps took least, each counted with
    the sampler's work on its logits: under load, two threads run a step
    alone about as fast as one, but the one that waits for more spins on
    the core the sampler needs.

    The music does not depend on the choice: tests/test_stepper.py checks
    that the logits are the same to the bit under one thread and two.  Use it
    as a context manager: on leaving, the BLAS libraries get their thread
    counts back.
    """

    def __init__(
        self, stepper: Steps, streams: int, candidates: tuple[int, ...] | None = None
    ) -> None:
        from threadpoolctl import ThreadpoolController

        self.stepper = stepper
        if candidates is None:
            cores = os.cpu_count() or 1
            if hasattr(os, "sched_getaffinity"):
                cores = len(os.sched_getaffinity(0))
            candidates = tuple(sorted({1, min(2, cores), cores})) if streams < TUNED_BELOW else (2,)
        self.threads: int | None = candidates[0] if len(candidates) == 1 else None
        self._trials = [threads for _ in range(TUNE_ROUNDS) for threads in candidates]
        self._took = dict.fromkeys(candidates, 0.0)
        self._block_steps = 0
        self._last_step: float | None = None  # when the last step began
        self._controller = ThreadpoolController().select(user_api="blas")
        self._limiter = None
        self._use(self.threads or self._trials[0])

    def __enter__(self) -> ThreadTuned:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None

    def step(self, ids: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        if self.threads is None:
            self._time_the_last_step()
        return self.stepper.step(ids, state)

    def _time_the_last_step(self) -> None:
        """Count the time since the last step began (that step, and the sampler's work
        on its logits) to the thread count it ran on; after a block, try the next."""
        now = time.perf_counter()
        if self._last_step is not None:
            self._took[self._trials[0]] += now - self._last_step
            self._block_steps += 1
            if self._block_steps == TUNE_BLOCK_STEPS:
                self._block_steps = 0
                self._trials.pop(0)
                if self._trials:
                    self._use(self._trials[0])
                else:
                    self.threads = min(self._took, key=self._took.__getitem__)
                    self._use(self.threads)
        self._last_step = now

    def _use(self, threads: int) -> None:
        if self._limiter is not None:
            self._limiter.restore_original_limits()
        self._limiter = self._controller.limit(limits=threads)
