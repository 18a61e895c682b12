"""ids -> logits: the recurrent language model (embedding, LSTM/GRU/RNN layers, output).

Follows pytorch/examples word_language_model and nanoGPT's model.py: a
config dataclass saved as JSON, ``forward(ids, state) -> (logits, state)``,
and one helper that cuts the graph between truncated-BPTT windows.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import MidiError
from .config import ModelConfig

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None


class LanguageModel(nn.Module):
    """Embedding -> dropout -> L recurrent layers (dropout between) -> output layer.

    With ``tie_weights`` the output layer shares the embedding matrix (Press &
    Wolf 2017); when the hidden size differs from the embedding size a linear
    projection brings the hidden state down to it first.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = CELLS[config.cell](
            config.embed,
            config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        width = config.hidden
        self.projection = None
        if config.has_projection:
            self.projection = nn.Linear(config.hidden, config.embed, bias=False)
            width = config.embed
        self.output = nn.Linear(width, config.vocab_size)
        if config.tie_weights:
            self.output.weight = self.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)
        if not self.config.tie_weights:
            nn.init.uniform_(self.output.weight, -0.1, 0.1)

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        # ids: (batch, time) -> logits: (batch, time, vocab)
        x = self.dropout(self.embedding(ids))
        x, state = self.rnn(x, state)
        x = self.dropout(x)
        if self.projection is not None:
            x = self.projection(x)
        return self.output(x), state

    def initial_state(self, batch: int) -> State:
        """Zeros, shaped for this cell; LSTMs carry (h, c)."""
        weight = self.embedding.weight
        shape = (self.config.layers, batch, self.config.hidden)
        if self.config.cell == "lstm":
            return (weight.new_zeros(shape), weight.new_zeros(shape))
        return weight.new_zeros(shape)


def detach_state(state: State) -> State:
    """Cut the autograd graph between BPTT windows, keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def reset_state(state: State, keep: torch.Tensor) -> State:
    """Zero the state of the columns where ``keep`` is False (a new piece starts there)."""
    if state is None:
        return None
    mask = keep.to(state[0].dtype if isinstance(state, tuple) else state.dtype).view(1, -1, 1)
    if isinstance(state, tuple):
        return tuple(part * mask for part in state)
    return state * mask


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether to train in bf16 autocast: asked for, or "auto" where the hardware has it.

    Raises:
        MidiError: bf16 was asked for on a device without it.
    """
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "bf16" and not supported:
        raise MidiError(f"precision bf16: this {device.type.upper()} has no bfloat16 support")
    return precision == "bf16" or (precision == "auto" and supported)
