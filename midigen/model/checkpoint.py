"""MODEL/ <-> weights, optimizer and training state: safetensors + JSON, never pickle.

A model folder holds::

    config.json            architecture, scheme, vocabulary, recipe, data summary, metrics
    model.safetensors      the weights generation uses (best by validation loss)
    optimizer.safetensors  latest weights, Adam moments, carried hidden state, RNG states
    state.json             step, epoch, window, clocks: what --resume needs with the above
    log.csv, loss.png      the training curve

Loading reads tensors and JSON only, so a model folder someone sends you
cannot run code; anything missing, truncated or inconsistent is a
CheckpointError naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MidiError
from ..fileio import umask, write_atomic
from ..tokens.vocab import Vocab
from .network import LanguageModel, ModelConfig

if TYPE_CHECKING:
    import torch

MODEL_FORMAT = "midigen-model"
MODEL_VERSION = 1


class CheckpointError(MidiError):
    """A model folder that cannot be loaded: missing, truncated or edited files."""


def save_config(folder: Path, config: dict[str, Any]) -> None:
    write_atomic(folder / "config.json", json.dumps(config, indent=1, ensure_ascii=False))


def load_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError("not a model folder (no config.json)", path=folder) from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"unreadable config.json: {error}", path=path) from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise CheckpointError("config.json is not a midigen model's", path=path)
    for key in ("model", "vocab", "scheme"):
        if key not in config:
            raise CheckpointError(f"config.json lacks {key!r}", path=path)
    return config


def build_model(config: dict[str, Any]) -> tuple[LanguageModel, Vocab]:
    """The architecture and vocabulary a config.json describes, with fresh weights."""
    try:
        vocab = Vocab(config["vocab"])
        model_config = ModelConfig.from_dict(config["model"])
    except (MidiError, TypeError) as error:
        raise CheckpointError(f"config.json: {error}") from None
    if model_config.vocab_size != len(vocab):
        raise CheckpointError("config.json: vocabulary and model disagree on its size")
    return LanguageModel(model_config), vocab


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Safetensors, written atomically (save_model handles the tied output layer)."""
    from safetensors.torch import save_model

    with _staged(path) as temporary:
        save_model(model, str(temporary))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    if not path.exists():
        raise CheckpointError("missing", path=path)
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, RuntimeError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot load weights: {_first_line(error)}", path=path) from None
    if missing or unexpected:
        names = ", ".join(sorted({*missing, *unexpected})[:3])
        raise CheckpointError(f"weights do not match config.json ({names})", path=path)


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    with _staged(path) as temporary:
        save_file({name: t.contiguous() for name, t in tensors.items()}, str(temporary))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError("missing (nothing to resume)", path=path) from None
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"unreadable: {_first_line(error)}", path=path) from None


def save_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=1))


def load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError("missing (nothing to resume)", path=path) from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"unreadable: {error}", path=path) from None


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's per-parameter state as flat named tensors."""
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optim.{index}.{name}"] = value
    return tensors


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    saved = optimizer.state_dict()
    try:
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"optimizer state does not fit the model: {error}") from None


class _staged:
    """A temporary path beside ``path``, renamed onto it when the block succeeds."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        os.close(handle)
        self.temporary = Path(name)
        return self.temporary

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            os.chmod(self.temporary, 0o666 & ~umask())
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
