"""dataset -> trained MODEL/: the training loop (truncated BPTT, Adam, checkpoints, DDP).

The learning rate warms up linearly, then decays as the inverse square root
of the step.  The schedule depends on the step alone, not on the target, so
`--resume` to a larger target gives the same weights as one long run: the
checkpoint holds the weights, Adam's moments, the hidden state carried into
the next window, the RNG state and the position in the data.

Under ``torchrun`` each process trains its own share of the batch columns
and DistributedDataParallel averages the gradients (gloo on CPU, nccl on
GPU); process 0 validates and writes the model folder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..data.batches import Epoch, lay_out
from ..data.dataset import Dataset, dataset_from, lopsided_split, reindexed
from ..errors import MidiError, count
from ..tokens.vocab import PAD_ID
from .checkpoint import (
    LOCK_FILE,
    STATE_FILE,
    CheckpointError,
    build_network,
    config_json,
    load_config,
    load_training,
    read_architecture,
    remove_leftovers,
    restore_optimizer,
    save_config,
    save_training,
    save_weights,
    written_by_training,
)
from .config import ModelConfig
from .distributed import Distributed
from .evaluate import evaluate_split
from .log import append_log, plot_losses, read_log
from .network import LanguageModel, State, detach_state, reset_state, uses_bf16
from .threads import ThreadTrials, same_on_any_count
from .trained import TrainedModel, load_model

PRECISIONS = ("auto", "fp32", "bf16")
MIN_VALID_PIECES = 3
MIN_VALID_SHARE = 0.005  # of the training tokens
# what a resumed run takes from the run it continues, whatever it is given: the recipe's
# fields that shape the weights, for --resume gives the weights of one uninterrupted run
RESUMED_RECIPE = (
    "bptt",
    "batch_size",
    "lr",
    "clip",
    "warmup",
    "eval_every",
    "seed",
    "precision",
    "init",
)
LOG_FILE = "log.csv"
LOG_COLUMNS = ("step", "seconds", "train_loss", "valid_loss", "tokens_per_s")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; config.json stores it under "training"."""

    bptt: int = 128
    batch_size: int = 32
    lr: float = 2e-3
    clip: float = 1.0
    warmup: int = 100
    steps: int | None = None
    epochs: int | None = None
    time_seconds: float | None = None
    eval_every: int = 200
    checkpoint_seconds: float = 300.0
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"  # auto, fp32 or bf16 (autocast; weights and Adam stay fp32)
    init: str | None = None  # a model folder whose weights the run starts from (fine-tuning)

    def __post_init__(self) -> None:
        if min(self.bptt, self.batch_size, self.warmup, self.eval_every) < 1:
            raise MidiError("bptt, batch size, warm-up and eval interval must be positive")
        if self.lr <= 0 or self.clip <= 0:
            raise MidiError("learning rate and clip must be positive")
        if not self.checkpoint_seconds > 0:
            raise MidiError("the checkpoint interval must be positive")
        targets = [t for t in (self.steps, self.epochs, self.time_seconds) if t is not None]
        if len(targets) > 1:
            raise MidiError("give one training target: steps, epochs or time_seconds")
        if targets and targets[0] <= 0:
            raise MidiError("the training target must be positive")
        if self.precision not in PRECISIONS:
            raise MidiError(
                f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}"
            )


@dataclass
class Progress:
    """Where training stands; state.json holds it."""

    step: int = 0
    epoch: int = 0
    window: int = 0
    seconds: float = 0.0
    tokens: int = 0
    best_valid_loss: float | None = None
    best_step: int | None = None  # the step whose weights model.safetensors holds
    train_loss_sum: float = 0.0
    train_loss_steps: int = 0
    last_metrics: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False  # this run stopped at Ctrl-C, before its target


class Recipe(NamedTuple):
    """What a resumed run takes from the run it continues (``recorded_recipe``)."""

    training: dict[str, Any]  # the RESUMED_RECIPE fields of TrainConfig
    architecture: dict[str, Any]  # ModelConfig's fields but the vocabulary size
    scheme: str  # the tokens it read


def recorded_recipe(folder: str | Path) -> Recipe | None:
    """What ``--resume`` continues in ``folder``, as its config.json records it; None
    where the folder holds no model.

    Raises:
        CheckpointError: config.json is not a midigen model's.
    """
    if not (Path(folder) / "config.json").exists():
        return None
    config = load_config(folder)
    training = config.get("training") or {}
    return Recipe(
        {name: training[name] for name in RESUMED_RECIPE if name in training},
        {name: value for name, value in config["model"].items() if name != "vocab_size"},
        config["scheme"],
    )


def fitted(dataset: Dataset, init: TrainedModel) -> Dataset:
    """``dataset`` in the ids of the model a fine-tuning starts from (``--init``): every
    token of it must be one the model knows (a style it never learned, another scheme's
    tokens, are refused)."""
    if dataset.scheme != init.scheme:
        raise MidiError(
            f"the data holds {dataset.scheme} tokens and the model {init.scheme} tokens",
            path=init.folder,
        )
    unknown = [token for token in dataset.vocab.tokens if token not in init.vocab.ids]
    if unknown:
        raise MidiError(
            f"the data has {count(len(unknown), 'token')} the model does not know "
            f"({', '.join(unknown[:3])}{'...' if len(unknown) > 3 else ''}): fine-tune on "
            "data prepared as the model's was (the same scheme and style folders)",
            path=init.folder,
        )
    return reindexed(dataset, init.vocab)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then inverse square-root decay; a function of the step only."""
    step = step + 1
    return config.lr * min(step / config.warmup, math.sqrt(config.warmup / step))


def train(
    data: str | Path,
    model_dir: str | Path,
    config: TrainConfig,
    model_config: dict[str, Any] | None = None,
    resume: bool = False,
    scheme: str | None = None,
    progress: Callable | None = None,
    notify: Callable[[str], None] | None = None,
    skipped: Callable[[str], None] | None = None,
    validating: Callable[[int, int], None] | None = None,
    repaired: Callable[[list[str]], None] | None = None,
) -> Progress:
    """Train (or resume) a model on a dataset folder or a folder of MIDI / word text.

    ``model_config`` holds ModelConfig fields other than the vocabulary size.  A
    resumed run takes both, and the scheme, from the run it continues
    (``recorded_recipe``): all but its target, checkpoint interval and device.
    ``progress`` is called after each step with (progress, loss, tokens/s,
    target) for a progress bar; ``notify`` with each warning about the run
    (a validation split too small to pick the best model, a model that never
    beat its untrained self), and without ``skipped`` with each file of a folder
    DATA that cannot be read; ``skipped`` with each such file's error
    (training leaves it out), and ``repaired`` with what the reader mended in
    each file it kept.  ``validating`` hears, during each validation,
    the tokens scored so far and in all (``evaluate_split``'s progress): on the
    shipped model's data the first one takes a minute before the first step.
    Returns where training stopped.

    Raises:
        MidiError: unusable data, options or model folder.
    """
    distributed = Distributed.start(config.device)
    warn = notify if notify and distributed.is_main else lambda message: None

    def leave_out(error: str) -> None:
        if skipped is None:
            warn(f"skipped {error}")
        elif distributed.is_main:
            skipped(error)

    folder = Path(model_dir)
    try:
        if distributed.is_main:
            _check_folder(folder, resume)
        recorded = recorded_recipe(folder) if resume else None
        if recorded is not None:
            config, model_config = replace(config, **recorded.training), recorded.architecture
            scheme = recorded.scheme
        with _training_lock(folder) if distributed.is_main else nullcontext():
            if distributed.is_main:
                remove_leftovers(folder)
            from_scratch = not (folder / STATE_FILE).exists()
            restart = resume and from_scratch
            if restart:  # a run killed before its first checkpoint: nothing to continue
                warn("nothing to resume (no complete checkpoint): training from the start")
            if from_scratch:  # the curve of a run that stopped early starts again too
                (folder / LOG_FILE).unlink(missing_ok=True)
            mended = repaired if distributed.is_main else None
            init = load_model(config.init) if config.init is not None else None
            vocab = None
            if init is not None:  # a folder of MIDI is prepared in the model's vocabulary
                scheme, vocab = scheme or init.scheme, init.vocab
            with dataset_from(
                data, scheme, vocab=vocab, skipped=leave_out, repaired=mended
            ) as dataset:
                if init is not None:
                    dataset = fitted(dataset, init)
                trainer = _Trainer(
                    dataset, folder, config, model_config or {}, resume, restart, distributed, init
                )
                for warning in trainer.validation_warnings():
                    warn(warning)
                if resume and not restart and trainer.target_reached():
                    warn(
                        f"the model has trained {count(trainer.progress.step, 'step')} "
                        "already, as far as this run asks: nothing to do (ask for more "
                        "--steps, --time or --epochs to continue)"
                    )
                    result = trainer.progress  # and its folder as it was, recipe included
                else:
                    result = trainer.run(progress, validating)
                del trainer  # and its DDP wrapper, before the process group goes (stop())
        if result.best_step == 0 and result.step:
            warn(
                "the validation loss never beat the untrained model's, so "
                "model.safetensors holds the step-0 weights: train longer, on more data, "
                "or with a lower learning rate"
            )
        return result
    finally:
        distributed.stop()


def _check_folder(folder: Path, resume: bool) -> None:
    """Refuse a folder that training would spoil: anything but a new or empty folder, a
    model to resume, one whose run was killed before its first checkpoint, or one whose
    run stopped before its first step.

    ``--resume`` with no checkpoint trains from the start, but only where nothing
    is lost by it: a folder that holds no model yet, or the weights of a run
    that was killed (its lock outlived it) before it saved what resume needs.
    A finished model without its training state, as models/default ships, is
    not written over, nor is a folder of someone's files.

    Raises:
        MidiError: the folder is a file, holds files no training wrote, or holds
            a model that this run would replace.
    """
    if folder.exists() and not folder.is_dir():
        raise MidiError("exists and is not a folder; train into a folder", path=folder)
    if not (folder / "config.json").exists():
        others = sorted(
            entry.name
            for entry in (folder.iterdir() if folder.is_dir() else ())
            if not written_by_training(entry.name)
        )
        if others:
            raise MidiError(
                f"holds files that are not a model's ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}); train into a new or empty folder",
                path=folder,
            )
    elif _stopped_before_training(folder):
        return  # nothing in it to lose: it starts again, with --resume or without
    elif not resume:
        raise MidiError(
            "already holds a model; add --resume to continue it, or use another -o", path=folder
        )
    elif not (folder / STATE_FILE).exists() and not _killed_run(folder):
        raise MidiError(
            f"holds a model but not its training state ({STATE_FILE}), so there is nothing "
            "to resume; train into another folder",
            path=folder,
        )


def _stopped_before_training(folder: Path) -> bool:
    """Whether the folder's run stopped before its first step and checkpoint (Ctrl-C while
    it read the data or took its first validation): its config.json says 0 steps done,
    and there is no training state; its weights, if any, are the untrained ones."""
    if (folder / STATE_FILE).exists():
        return False
    try:
        training = json.loads((folder / "config.json").read_text()).get("training")
    except (OSError, ValueError, AttributeError):
        return False  # not a config.json this training wrote
    return isinstance(training, dict) and training.get("steps_done") == 0


def _killed_run(folder: Path) -> bool:
    """Whether a training was killed in this folder: its lock file outlived it."""
    lock = folder / LOCK_FILE
    return lock.exists() and _lock_owner(lock) is None


@contextmanager
def _training_lock(folder: Path) -> Iterator[None]:
    """One training per model folder: a lock file holding the writer's process id.

    A lock whose process is gone (killed) is taken over.  The folders the lock made
    go with it if the run wrote nothing there (it failed before its first step).

    Raises:
        MidiError: another live process trains into the folder.
    """
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file where a folder must be, or no right to write
        raise MidiError(f"cannot write: {error.strerror or error}", path=folder) from None
    lock = folder / LOCK_FILE
    while True:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None:
                raise MidiError(
                    f"another training (process {owner}) is writing this folder; "
                    "wait for it to finish, or train into another folder",
                    path=folder,
                ) from None
            lock.unlink(missing_ok=True)
        except OSError as error:
            raise MidiError(f"cannot write: {error.strerror or error}", path=folder) from None
    with os.fdopen(handle, "w") as stream:
        stream.write(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        for path in made:
            if any(path.iterdir()):
                break
            path.rmdir()


def _lock_owner(lock: Path) -> int | None:
    """The live process that holds a lock file, or None when it is gone."""
    try:
        pid = int(lock.read_text().strip() or 0)
        if pid <= 0 or pid == os.getpid():
            return None
        os.kill(pid, 0)
    except (OSError, ValueError) as error:
        return pid if isinstance(error, PermissionError) else None
    return pid


class _Trainer:
    def __init__(
        self,
        dataset: Dataset,
        folder: Path,
        config: TrainConfig,
        model_config: dict[str, Any],
        resume: bool,
        restart: bool,
        distributed: Distributed,
        init: TrainedModel | None = None,
    ) -> None:
        self.dataset, self.folder, self.config = dataset, folder, config
        self.distributed = distributed
        self.device = distributed.device
        self.bf16 = uses_bf16(config.precision, self.device)
        torch.manual_seed(config.seed + distributed.rank)
        saved = None
        if resume and not restart:
            self.network, *saved = self._resumed_network()
        elif init is not None:  # a fine-tuning: the model's network, with its weights
            self.network = init.network
        else:
            architecture = ModelConfig(vocab_size=len(dataset.vocab), **model_config)
            self.network = build_network(architecture)
        self.network.to(self.device)
        self.wrapped = distributed.wrap(self.network)  # what the step runs: DDP or the network
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr)
        self.progress = Progress()
        self.state: State = None
        self.stop_requested = False
        self.validating: Callable[[int, int], None] | None = None  # run() sets it
        threads = torch.get_num_threads()
        tunable = self.device.type == "cpu" and threads > 1 and self.same_on_any_count(threads)
        self.threads = ThreadTrials((1, threads) if tunable else ())
        if saved is not None:
            self._restore(*saved)
            self.progress.interrupted = False
        self.train_ids, self.train_pieces = dataset.ids("train"), dataset.pieces("train")
        if not self.train_pieces[:, 1].sum():  # no pieces, or only empty text files
            raise MidiError("the training split is empty", path=dataset.folder)

    def same_on_any_count(self, threads: int) -> bool:
        """Whether one thread and ``threads`` compute the network's gradients for a batch
        of the run's shape to the same bits."""
        ids = torch.randint(
            len(self.dataset.vocab),
            (self.config.batch_size, self.config.bptt),
            generator=torch.Generator().manual_seed(0),
        )

        def gradients() -> list[torch.Tensor]:
            self.network.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                logits, _ = self.network(ids)
            logits.float().logsumexp(-1).mean().backward()
            return [p.grad for p in self.network.parameters()]

        same = same_on_any_count(gradients, threads)
        self.network.zero_grad(set_to_none=True)
        return same

    def validation_warnings(self) -> list[str]:
        """What makes the validation split a poor judge of the best model."""
        valid, train = self.dataset.pieces("valid"), self.train_pieces
        if not len(valid):
            return [
                "no validation split: model.safetensors will hold the last weights, "
                "not the best by validation loss (prepare more files, or --valid-fraction)"
            ]
        warnings = []
        tokens, train_tokens = int(valid[:, 1].sum()), int(train[:, 1].sum())
        if lopsided := lopsided_split(train_tokens, tokens):
            warnings.append(lopsided)
        elif len(valid) < MIN_VALID_PIECES or tokens < MIN_VALID_SHARE * train_tokens:
            warnings.append(
                f"the validation split is tiny ({count(len(valid), 'piece')}, "
                f"{count(tokens, 'token')}): its loss is a noisy guide to the best model"
            )
        if train[:, 2].sum() and not valid[:, 2].sum():
            warnings.append(
                "the validation split holds no notes, the training split does: "
                "it is not like the training data"
            )
        return warnings

    # -- setup -------------------------------------------------------------------

    def _resumed_network(self) -> tuple[LanguageModel, dict[str, Any], dict[str, torch.Tensor]]:
        """The network of the run this one continues, which must have trained on this data:
        its vocabulary, and as many pieces and tokens in each split."""
        config = load_config(self.folder)
        architecture, vocab = read_architecture(config)
        if vocab.tokens != self.dataset.vocab.tokens:
            raise MidiError(
                "the data's vocabulary differs from the model's; resume needs the same data",
                path=self.folder,
            )
        recorded = (config.get("data") or {}).get("counts")
        counts = self.dataset.meta.get("counts")
        if recorded and counts and recorded != counts:
            were, are = (
                ", ".join(f"{count(c[split]['tokens'], split + ' token')}" for split in c)
                for c in (recorded, counts)
            )
            raise MidiError(
                f"the model trained on other data ({were}; this data has {are}); "
                "resume needs the same data",
                path=self.folder,
            )
        network = build_network(architecture)
        progress, carried = load_training(self.folder, network)
        return network, progress, carried

    def _restore(self, progress: dict[str, Any], carried: dict[str, torch.Tensor]) -> None:
        try:
            self.progress = Progress(**progress)
        except TypeError as error:
            raise CheckpointError(f"state.json: {error}", path=self.folder) from None
        restore_optimizer(self.optimizer, carried)
        rank = self.distributed.rank
        if f"rng.{rank}" in carried:
            torch.set_rng_state(carried[f"rng.{rank}"])
        if "state.h" in carried:
            columns = self.distributed.columns(self.config.batch_size)
            parts = [
                carried[f"state.{name}"][:, columns].to(self.device)
                for name in ("h", "c")
                if f"state.{name}" in carried
            ]
            self.state = tuple(parts) if self.network.config.cell == "lstm" else parts[0]

    # -- the loop ----------------------------------------------------------------------

    def run(
        self, progress: Callable | None, validating: Callable[[int, int], None] | None = None
    ) -> Progress:
        """Train to the target; torch's thread count is the trials' while it runs."""
        self.validating = validating
        self.threads.use()
        try:
            return self._run(progress)
        finally:
            self.threads.restore()

    def _run(self, progress: Callable | None) -> Progress:
        config, p = self.config, self.progress
        if p.step == 0:
            if self.distributed.is_main:  # the recipe, for a --resume of a run killed early
                self._save_config()
            self._validate()  # the starting point of the curve; not part of --time
        started = time.monotonic() - p.seconds
        last_checkpoint = time.monotonic()
        previous_handler = self._catch_interrupt()
        speed = None  # tokens per second, smoothed
        try:
            while not self._done(started):
                epoch = self._epoch(p.epoch)
                while p.window < epoch.windows and not self._done(started):
                    tick = time.monotonic()
                    self.threads.begin(tick)
                    loss, tokens = self._step(epoch, p.window)
                    self.threads.end(time.monotonic() - tick, time.monotonic())
                    p.window += 1
                    p.step += 1
                    p.tokens += tokens
                    p.train_loss_sum += loss
                    p.train_loss_steps += 1
                    p.seconds = time.monotonic() - started
                    rate = tokens * self.distributed.world / max(time.monotonic() - tick, 1e-9)
                    speed = rate if speed is None else 0.9 * speed + 0.1 * rate
                    if progress and self.distributed.is_main:
                        progress(p, loss, speed, self._target())
                    if p.step % config.eval_every == 0:
                        self._validate()
                    if time.monotonic() - last_checkpoint > config.checkpoint_seconds:
                        self._checkpoint()
                        last_checkpoint = time.monotonic()
                if p.window >= epoch.windows:
                    p.epoch += 1
                    p.window = 0
                    self.state = None
            # a last validation, unless the last step had one; every process must take the
            # same way (each validation ends at a barrier), and only the main one keeps metrics
            unmeasured = self.distributed.is_main and not p.last_metrics
            if p.train_loss_steps or self.distributed.any(unmeasured):
                self._validate()
            p.interrupted = self.stop_requested
            self._checkpoint()
        finally:
            signal.signal(signal.SIGINT, previous_handler)
        return p

    def _epoch(self, epoch: int) -> Epoch:
        columns = self.config.batch_size * self.distributed.world
        return lay_out(
            self.train_ids,
            self.train_pieces,
            columns,
            self.config.bptt,
            seed=self.config.seed,
            epoch=epoch,
        )

    def _step(self, epoch: Epoch, window: int) -> tuple[float, int]:
        x, y, keep = epoch.window(window, self.distributed.columns(self.config.batch_size))
        x, y, keep = x.to(self.device), y.to(self.device), keep.to(self.device)
        self.wrapped.train()
        state = reset_state(detach_state(self.state), keep)
        # bf16 autocast runs the matrix products in bfloat16; the loss stays fp32
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits, self.state = self.wrapped(x, state)
            # logits: (batch, time, vocab); targets (batch, time) with <pad> ignored
            total = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(),
                y.reshape(-1),
                ignore_index=PAD_ID,
                reduction="sum",
            )
        tokens = int((y != PAD_ID).sum())
        loss = total / max(tokens, 1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), self.config.clip)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.progress.step)
        self.optimizer.step()
        return float(loss.detach()), tokens

    def _target(self) -> tuple[str, float] | None:
        c = self.config
        if c.steps:
            return "steps", c.steps
        if c.epochs:
            return "epochs", c.epochs
        if c.time_seconds:
            return "seconds", c.time_seconds
        return "epochs", 1

    def target_reached(self, seconds: float | None = None) -> bool:
        """Whether training stands where this run should stop: at its --steps, its
        --time (after ``seconds`` of training, by default those already done) or its
        --epochs."""
        p, c = self.progress, self.config
        if c.steps:
            return p.step >= c.steps
        if c.time_seconds:
            return (p.seconds if seconds is None else seconds) >= c.time_seconds
        return p.epoch >= (c.epochs or 1)

    def _done(self, started: float) -> bool:
        finished = self.target_reached(time.monotonic() - started)
        return self.distributed.any(finished or self.stop_requested)

    def _catch_interrupt(self):
        """First Ctrl-C: finish the step, checkpoint, stop.  Second: stop at once."""

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True

        return signal.signal(signal.SIGINT, handler)

    # -- validation and saving ---------------------------------------------------------

    def _validate(self) -> None:
        p = self.progress
        metrics = None
        if self.distributed.is_main and len(self.dataset.pieces("valid")):
            metrics = evaluate_split(
                self.network,
                self.dataset,
                "valid",
                self.config.bptt,
                self.config.batch_size,
                self.device,
                bf16=self.bf16,
                progress=self.validating,
            )
        train_loss = p.train_loss_sum / p.train_loss_steps if p.train_loss_steps else None
        p.train_loss_sum, p.train_loss_steps = 0.0, 0
        if self.distributed.is_main:
            valid_loss = metrics.loss if metrics else None
            speed = p.tokens / p.seconds if p.seconds else 0.0
            append_log(
                self.folder / LOG_FILE,
                LOG_COLUMNS,
                (
                    p.step,
                    round(p.seconds, 2),
                    _rounded(train_loss),
                    _rounded(valid_loss),
                    round(speed, 1),
                ),
            )
            improved = valid_loss is not None and (
                p.best_valid_loss is None or valid_loss < p.best_valid_loss
            )
            if improved:
                p.best_valid_loss = valid_loss
                p.best_step = p.step
                p.last_metrics = metrics.to_dict()
            if improved or valid_loss is None:
                save_weights(self.network, self.folder / "model.safetensors")
                if valid_loss is None:
                    p.last_metrics = {"train_loss": train_loss}
                self._save_config()
        self.distributed.barrier()

    def _checkpoint(self) -> None:
        carried = {
            f"rng.{rank}": rng
            for rank, rng in enumerate(self.distributed.gather(torch.get_rng_state()))
        }
        if self.state is not None:
            parts = self.state if isinstance(self.state, tuple) else (self.state,)
            for name, part in zip(("h", "c"), parts, strict=False):
                gathered = self.distributed.gather(part.detach().cpu())
                carried[f"state.{name}"] = torch.cat(gathered, dim=1)
        if not self.distributed.is_main:
            return
        if not (self.folder / "model.safetensors").exists():
            save_weights(self.network, self.folder / "model.safetensors")
        save_training(self.folder, self.network, self.optimizer, asdict(self.progress), carried)
        self._save_config()
        plot_losses(read_log(self.folder / LOG_FILE), self.folder / "loss.png")

    def _save_config(self) -> None:
        meta = self.dataset.meta
        data_summary = {
            "source": meta.get("source", str(self.dataset.folder)),
            "scheme": meta["scheme"],
            "files": len(meta.get("files", [])),
            "transpose": meta.get("transpose"),
            "valid_fraction": meta.get("valid_fraction"),
            "counts": meta.get("counts"),
            "styles": dict(
                sorted(Counter(f["style"] for f in meta.get("files", []) if "style" in f).items())
            ),
            **{
                name: meta[name]
                for name in ("velocities", "piece_quantiles", "style_instruments", "key_shares")
                if name in meta
            },
        }
        training = {
            **asdict(self.config),
            "precision_used": "bf16" if self.bf16 else "fp32",
            "processes": self.distributed.world,
            "steps_done": self.progress.step,
            "epochs_done": self.progress.epoch,
            "seconds": round(self.progress.seconds, 1),
            "midigen": __version__,
        }
        config = config_json(
            meta["scheme"],
            self.network.config,
            self.dataset.vocab,
            training,
            data_summary,
            self.progress.last_metrics,
        )
        save_config(self.folder, config)


def _rounded(value: float | None) -> float | str:
    return "" if value is None else round(value, 5)
