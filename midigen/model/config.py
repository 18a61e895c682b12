"""config.json's "model" section <-> ModelConfig: the architecture, without torch.

Kept apart from the network so that loading a model to sample from it
(NumPy only) can read its architecture without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import MidiError

CELLS = ("lstm", "gru", "rnn")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture; ``config.json`` stores it under "model"."""

    vocab_size: int
    cell: str = "lstm"
    layers: int = 2
    hidden: int = 512
    embed: int = 256
    dropout: float = 0.1
    tie_weights: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "layers", "hidden", "embed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise MidiError(f"{name} must be a whole number, not {value!r}")
        if not isinstance(self.tie_weights, bool):
            raise MidiError(f"tie_weights must be true or false, not {self.tie_weights!r}")
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool):
            raise MidiError(f"dropout must be a number, not {self.dropout!r}")
        if self.cell not in CELLS:
            raise MidiError(f"unknown cell {self.cell!r}; choose from {', '.join(CELLS)}")
        if min(self.vocab_size, self.layers, self.hidden, self.embed) < 1:
            raise MidiError("vocab_size, layers, hidden and embed must be positive")
        if not 0 <= self.dropout < 1:
            raise MidiError("dropout must be in [0, 1)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise MidiError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def has_projection(self) -> bool:
        """Tied weights with hidden != embed need a projection from hidden down to embed."""
        return self.tie_weights and self.hidden != self.embed


GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor model.safetensors holds for this architecture.

    These are nn.Module state_dict names; a tied output layer is stored once,
    as ``embedding.weight``.
    """
    gates = GATES[config.cell] * config.hidden
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (config.vocab_size, config.embed)}
    for layer in range(config.layers):
        width = config.embed if layer == 0 else config.hidden
        shapes[f"rnn.weight_ih_l{layer}"] = (gates, width)
        shapes[f"rnn.weight_hh_l{layer}"] = (gates, config.hidden)
        shapes[f"rnn.bias_ih_l{layer}"] = (gates,)
        shapes[f"rnn.bias_hh_l{layer}"] = (gates,)
    if config.has_projection:
        shapes["projection.weight"] = (config.embed, config.hidden)
    if not config.tie_weights:
        shapes["output.weight"] = (config.vocab_size, config.hidden)
    shapes["output.bias"] = (config.vocab_size,)
    return shapes
