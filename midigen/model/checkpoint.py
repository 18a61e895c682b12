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
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data import openings
from ..errors import MidiError, count, first_line
from ..fileio import read_regular, umask, write_atomic
from ..tokens import grammar
from ..tokens.vocab import Vocab
from .config import ModelConfig, weight_shapes

if TYPE_CHECKING:
    import torch

    from .network import LanguageModel

MODEL_FORMAT = "midigen-model"
MODEL_VERSION = 1
OPTIMIZER_FILE = "optimizer.safetensors"
PREVIOUS_OPTIMIZER_FILE = "optimizer.previous.safetensors"
STATE_FILE = "state.json"
LOCK_FILE = ".train.lock"
MODEL_FILES = (
    "config.json", "model.safetensors", OPTIMIZER_FILE, STATE_FILE, "log.csv", "loss.png"
)  # fmt: skip
MAX_CONFIG_BYTES = 64 * 2**20  # a vocabulary of a million words is about 20 MB
MAX_SAFETENSORS_HEADER = 2**20


class CheckpointError(MidiError):
    """A model folder that cannot be loaded: missing, truncated or edited files."""


def save_config(folder: Path, config: dict[str, Any]) -> None:
    write_atomic(folder / "config.json", json.dumps(config, indent=1, ensure_ascii=False))


def load_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    if not path.exists():
        raise CheckpointError("not a model folder (no config.json)", path=folder)
    try:
        config = json.loads(read_regular(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except MidiError as error:
        raise CheckpointError(error.what, path=path) from None
    except ValueError as error:
        raise CheckpointError(f"unreadable config.json: {error}", path=path) from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise CheckpointError("config.json is not a midigen model's", path=path)
    for key in ("model", "vocab", "scheme"):
        if key not in config:
            raise CheckpointError(f"config.json lacks {key!r}", path=path)
    return config


def read_architecture(config: dict[str, Any]) -> tuple[ModelConfig, Vocab]:
    """The architecture and vocabulary a config.json describes.

    Raises:
        CheckpointError: they are malformed or disagree.
    """
    try:
        vocab = Vocab(config["vocab"])
        model_config = ModelConfig.from_dict(config["model"])
    except (MidiError, TypeError) as error:
        raise CheckpointError(f"config.json: {error}") from None
    if model_config.vocab_size != len(vocab):
        raise CheckpointError("config.json: vocabulary and model disagree on its size")
    if config.get("scheme") == "event":
        # BAR came later: a model from before it reads and writes music without bar lines
        missing = [t for t in grammar.vocabulary() if t not in vocab.ids and t != "BAR"]
        if missing:
            raise CheckpointError(
                f"config.json: an event model's vocabulary lacks "
                f"{count(len(missing), 'event token')} ({', '.join(missing[:3])}...)"
            )
    return model_config, vocab


def read_velocities(config: dict[str, Any]) -> tuple[int, ...]:
    """The velocity each VEL bin decodes to, as the model's training data had them
    (``data.velocities``); the bins' middles for a model from before they were recorded.

    Raises:
        CheckpointError: the table is not one velocity 1..127 per bin.
    """
    table = (config.get("data") or {}).get("velocities")
    if table is None:
        return grammar.BIN_MIDDLES
    if not (
        isinstance(table, list)
        and len(table) == grammar.VELOCITY_BINS
        and all(type(v) is int and 1 <= v <= 127 for v in table)
    ):
        raise CheckpointError(
            f"config.json: data.velocities must be {grammar.VELOCITY_BINS} velocities 1..127"
        )
    return tuple(table)


def read_piece_quantiles(config: dict[str, Any]) -> dict[str, dict[str, tuple[float, ...]]]:
    """{figure: {style ("" for none): quantiles}}: what the openings of the model's
    training pieces were like (``data.piece_quantiles``, data/openings.py).  A model
    from before has only the deciles of its key shares (``data.key_shares``), or nothing.

    Raises:
        CheckpointError: not figures mapping styles to rising values in bounds.
    """
    data = config.get("data") or {}
    if data.get("piece_quantiles") is not None:
        name, tables = "data.piece_quantiles", data["piece_quantiles"]
    elif data.get("key_shares") is not None:
        name, tables = "data.key_shares", {openings.KEY_SHARE: data["key_shares"]}
    else:
        return {}
    if not isinstance(tables, dict) or not set(tables) <= set(openings.BOUNDS):
        raise CheckpointError(
            f"config.json: {name} must map {', '.join(openings.BOUNDS)} to quantiles per style"
        )
    for figure, by_style in tables.items():
        low, high = openings.BOUNDS[figure]
        if not (
            isinstance(by_style, dict)
            and all(
                isinstance(style, str)
                and isinstance(values, list)
                and len(values) == openings.QUANTILES
                and all(type(value) in (int, float) and low <= value <= high for value in values)
                and values == sorted(values)
                for style, values in by_style.items()
            )
        ):
            raise CheckpointError(
                f"config.json: {name}: {figure} must map styles to "
                f"{openings.QUANTILES} rising values {low:g}..{high:g}"
            )
    return {
        figure: {style: tuple(map(float, values)) for style, values in by_style.items()}
        for figure, by_style in tables.items()
    }


def read_style_instruments(config: dict[str, Any]) -> dict[str, dict[int, float]]:
    """{style ("" for none): {instrument: share of its training pieces it plays in}}
    (``data.style_instruments``, data/openings.py); empty for a model from before.

    Raises:
        CheckpointError: not styles mapping instruments 0..128 to shares 0..1.
    """
    table = (config.get("data") or {}).get("style_instruments")
    if table is None:
        return {}
    if not (
        isinstance(table, dict)
        and all(
            isinstance(style, str)
            and isinstance(shares, dict)
            and all(
                isinstance(instrument, str)
                and instrument.isdigit()
                and int(instrument) <= grammar.DRUMS
                and type(share) in (int, float)
                and 0 <= share <= 1
                for instrument, share in shares.items()
            )
            for style, shares in table.items()
        )
    ):
        raise CheckpointError(
            "config.json: data.style_instruments must map styles to instruments "
            f"0..{grammar.DRUMS} and the share 0..1 of pieces they play in"
        )
    return {
        style: {int(instrument): float(share) for instrument, share in shares.items()}
        for style, shares in table.items()
    }


def build_network(model_config: ModelConfig) -> LanguageModel:
    """A PyTorch network of this architecture with fresh weights (imports torch)."""
    from .network import LanguageModel

    return LanguageModel(model_config)


def load_arrays(path: Path, model_config: ModelConfig) -> dict[str, np.ndarray]:
    """model.safetensors as NumPy arrays, each checked against the architecture.

    Raises:
        CheckpointError: the file is missing or unreadable, or its tensors do
            not match config.json by name or shape.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.exists():
        raise CheckpointError("missing", path=path)
    if not path.is_file():  # a FIFO or a device: safetensors would block or read forever
        raise CheckpointError("not a regular file", path=path)
    expected = weight_shapes(model_config)
    most = 4 * sum(math.prod(shape) for shape in expected.values()) + MAX_SAFETENSORS_HEADER
    if path.stat().st_size > most:
        raise CheckpointError(
            f"{path.stat().st_size:,} bytes: larger than the weights config.json describes",
            path=path,
        )
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot load weights: {first_line(error)}", path=path) from None
    if model_config.tie_weights and "embedding.weight" not in arrays and "output.weight" in arrays:
        arrays["embedding.weight"] = arrays.pop("output.weight")  # a tied pair, stored once
    wrong = sorted(
        name
        for name in {*expected, *arrays}
        if name not in arrays or expected.get(name) != tuple(arrays[name].shape)
    )
    if wrong:
        names = ", ".join(wrong[:3])
        raise CheckpointError(f"weights do not match config.json ({names})", path=path)
    if not all(np.isfinite(array).all() for array in arrays.values()):
        raise CheckpointError("weights hold NaN or infinity", path=path)
    return {name: arrays[name].astype(np.float32, copy=False) for name in expected}


def config_json(
    scheme: str,
    architecture: ModelConfig,
    vocab: Vocab,
    training: dict[str, Any],
    data: dict[str, Any],
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """What config.json holds, in the order it is written."""
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "scheme": scheme,
        "model": architecture.to_dict(),
        "training": training,
        "data": data,
        "metrics": metrics,
        "vocab": vocab.tokens,
    }


def network_tensors(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The network's weights by state_dict name, a tied output layer stored once.

    With tied weights ``output.weight`` is ``embedding.weight``; safetensors
    refuses shared tensors, and one copy is all loading needs.
    """
    tensors = {name: t.detach().cpu() for name, t in network.state_dict().items()}
    if network.config.tie_weights:
        del tensors["output.weight"]
    return tensors


def load_network_tensors(
    network: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path
) -> None:
    """Put ``network_tensors`` back into a network of the same architecture.

    Raises:
        CheckpointError: names or shapes do not match the network.
    """
    tensors = dict(tensors)
    if network.config.tie_weights and "embedding.weight" in tensors:
        tensors["output.weight"] = tensors["embedding.weight"]
    try:
        missing, unexpected = network.load_state_dict(tensors, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"weights do not fit config.json: {error}", path=path) from None
    if missing or unexpected:
        names = ", ".join(sorted({*missing, *unexpected})[:3])
        raise CheckpointError(f"weights do not fit config.json ({names})", path=path)


def save_weights(network: torch.nn.Module, path: Path) -> None:
    """model.safetensors: the weights sampling loads (as NumPy arrays, see load_arrays)."""
    save_tensors(network_tensors(network), path)


def save_tensors(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> None:
    from safetensors.torch import save_file

    with _staged(path) as temporary:
        contiguous = {name: t.contiguous() for name, t in tensors.items()}
        save_file(contiguous, str(temporary), metadata=metadata)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError("missing (nothing to resume)", path=path) from None
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"unreadable: {first_line(error)}", path=path) from None


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        except OSError as error:
            raise CheckpointError(
                f"cannot write: {error.strerror or error}", path=self.path
            ) from error
        os.close(handle)
        self.temporary = Path(name)
        return self.temporary

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            try:
                os.chmod(self.temporary, 0o666 & ~umask())
                os.replace(self.temporary, self.path)
                return
            except OSError as failure:
                self.temporary.unlink(missing_ok=True)
                reason = failure.strerror or failure
                raise CheckpointError(f"cannot write: {reason}", path=self.path) from failure
        self.temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):  # a full disk while the tensors were written
            raise CheckpointError(
                f"cannot write: {error.strerror or error}", path=self.path
            ) from error


def save_training(
    folder: Path,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    carried: dict[str, torch.Tensor],
) -> None:
    """What --resume needs: optimizer.safetensors (the latest weights, Adam's moments and
    ``carried``: RNG states and the hidden state going into the next window), then state.json.

    Written so that a kill at any moment leaves a complete checkpoint: the
    optimizer file records its step, and the one it replaces stays beside it
    (optimizer.previous.safetensors, a hard link) until state.json names the
    new step.  ``load_training`` takes the pair whose steps agree.
    """
    current, previous = folder / OPTIMIZER_FILE, folder / PREVIOUS_OPTIMIZER_FILE
    tensors = {f"model.{name}": t for name, t in network_tensors(network).items()}
    tensors.update(optimizer_tensors(optimizer))
    tensors.update(carried)
    previous.unlink(missing_ok=True)
    if current.exists():
        try:
            os.link(current, previous)
        except OSError:  # a file system without hard links
            shutil.copyfile(current, previous)
    save_tensors(tensors, current, metadata={"step": str(progress["step"])})
    save_json(folder / STATE_FILE, {"progress": progress})
    previous.unlink(missing_ok=True)


def load_training(
    folder: Path, network: torch.nn.Module
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load the latest complete checkpoint's weights into ``network``; return state.json's
    progress and the rest of its optimizer file (moments, RNG and hidden states).

    Raises:
        CheckpointError: nothing complete to resume, or files that do not fit the network.
    """
    saved = load_json(folder / STATE_FILE)
    if not isinstance(saved, dict) or not isinstance(saved.get("progress"), dict):
        raise CheckpointError("state.json holds no progress", path=folder / STATE_FILE)
    step = saved["progress"].get("step")
    for path in (folder / OPTIMIZER_FILE, folder / PREVIOUS_OPTIMIZER_FILE):
        if path.is_file() and _saved_step(path) in (str(step), None):
            break
    else:
        raise CheckpointError(
            f"no optimizer file holds step {step}, the step state.json names "
            "(nothing complete to resume)",
            path=folder,
        )
    tensors = load_tensors(path)
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    load_network_tensors(network, weights, path)
    rest = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return saved["progress"], rest


def _saved_step(path: Path) -> str | None:
    """The step an optimizer file records (None for files from before steps were recorded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as stream:
            return (stream.metadata() or {}).get("step")
    except (SafetensorError, OSError):
        return "unreadable"


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files a killed run left in a model folder (call with the lock).

    Atomic writes stage ``.<name>.<random>`` beside ``<name>``; nothing else is touched.
    """
    for name in (*MODEL_FILES, PREVIOUS_OPTIMIZER_FILE):
        for leftover in folder.glob(f".{name}.*"):
            leftover.unlink(missing_ok=True)


def written_by_training(name: str) -> bool:
    """Whether a file of this name in a model folder is one training writes: a model
    file, the lock, or a temporary file of them that a killed run left."""
    ours = (*MODEL_FILES, PREVIOUS_OPTIMIZER_FILE, LOCK_FILE)
    return name in ours or name.startswith(tuple(f".{own}." for own in ours))
