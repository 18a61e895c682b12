"""weights -> logits, one token at a time: the network's forward pass in NumPy, for sampling.

A PyTorch call per token costs more in overhead than the arithmetic of a
512-unit LSTM, and importing torch alone takes longer than generating a
piece.  So sampling runs the trained weights here, with the same equations
as nn.LSTM, nn.GRU and nn.RNN (gate order i, f, g, o and r, z, n, as the
PyTorch docs give them); tests/test_stepper.py checks the logits against the
PyTorch network for every cell.  Layer 0's input projection is a table
lookup (embedding times input weights, computed once), and each step is a
handful of matrix products (scripts/bench_generate.py measures it).
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig


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
        # Layer 0's input projection for every token, a column each: one gather per step.
        table = self.input_weights[0] @ weights["embedding.weight"].T + self.input_bias[0]
        if self.cell != "gru":  # a GRU keeps the hidden bias apart (it is gated by r)
            table += self.hidden_bias[0]
        self.first_layer_table = np.ascontiguousarray(table)
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
                projected = self.first_layer_table[:, ids]
            else:
                projected = self.input_weights[layer] @ x + self.input_bias[layer]
                if self.cell != "gru":
                    projected += self.hidden_bias[layer]
            x = self._cell(layer, projected, state)
        if self.projection is not None:
            x = self.projection @ x
        return (self.output_weights @ x + self.output_bias).T

    def _cell(self, layer: int, projected: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        h = state[0][layer]
        recurrent = self.hidden_weights[layer] @ h
        size = self.hidden  # gates are row slices, not np.split: a view costs less than its call
        if self.cell == "lstm":
            gates = projected + recurrent
            i, f = gates[:size], gates[size : 2 * size]
            g, o = gates[2 * size : 3 * size], gates[3 * size :]
            c = _sigmoid(f) * state[1][layer] + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            state[1][layer] = c
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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # one tanh: cheaper than exp and overflow-free
