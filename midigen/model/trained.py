"""MODEL/ -> a trained model you can evaluate and ask for the next token.

``midigen.load_model(folder)`` is the Python entry point; the `evaluate` and
`predict` commands call it too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..data.batches import Dataset, open_dataset
from ..errors import MidiError
from ..midi.song import Song
from ..tokens import event as event_scheme
from ..tokens.vocab import UNK_ID, Vocab
from .checkpoint import build_model, load_config, load_weights
from .evaluate import Metrics, evaluate_split, next_token_ranking
from .network import LanguageModel

EVAL_BPTT = 128
EVAL_BATCH = 8  # logits are batch x bptt x vocabulary: keep large vocabularies in memory


class TrainedModel:
    """A model folder loaded for use: weights, vocabulary, token scheme, recipe."""

    def __init__(self, folder: Path, config: dict, network: LanguageModel, vocab: Vocab) -> None:
        self.folder, self.config, self.network, self.vocab = folder, config, network, vocab
        self.scheme: str = config["scheme"]

    def evaluate(self, data: str | Path) -> Metrics:
        """Score a dataset's validation split, or every file of a folder of MIDI or text.

        Raises:
            MidiError: the data cannot be read or holds another token scheme.
        """
        data = Path(data)
        if (data / "meta.json").exists():
            dataset = open_dataset(data)
            if dataset.scheme != self.scheme:
                raise MidiError(
                    f"the dataset holds {dataset.scheme} tokens, the model reads {self.scheme}",
                    path=data,
                )
            split = "valid" if len(dataset.pieces("valid")) else "train"
            return self._score(_with_vocab(dataset, self.vocab), split)
        from ..data.dataset import PrepareConfig, prepare

        with tempfile.TemporaryDirectory(prefix="midigen-eval-") as temporary:
            folder = Path(temporary) / "data"
            prepare(
                [data],
                folder,
                PrepareConfig(scheme=self.scheme, valid_fraction=0),
                vocab=self.vocab,
            )
            return self._score(open_dataset(folder), "train")

    def _score(self, dataset: Dataset, split: str) -> Metrics:
        return evaluate_split(self.network, dataset, split, EVAL_BPTT, EVAL_BATCH)

    def predict(self, tokens: list[str], top: int = 10) -> list[tuple[str, float]]:
        """The ``top`` most likely next tokens after ``tokens``, with probabilities."""
        if not tokens:
            raise MidiError("predict needs some tokens to continue (--tokens or --prime)")
        return next_token_ranking(self.network, self.vocab, tokens, top)

    def generate(
        self,
        length: str = "60s",
        prime: str | Path | None = None,
        prime_seconds: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Song:
        """Sample one piece; see ``generate_batch``."""
        return self.generate_batch(
            1, length, prime, prime_seconds, temperature, top_k, top_p, seed
        )[0]

    def generate_batch(
        self,
        num: int,
        length: str = "60s",
        prime: str | Path | None = None,
        prime_seconds: float = 10.0,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[Song]:
        """Sample ``num`` different pieces at once, as playable songs.

        ``length`` counts the whole piece, prime included: "60s", "16bars" or
        "2000tokens".  With a ``prime`` MIDI file the pieces start with its
        first ``prime_seconds`` (on the 1/24-beat grid) and continue it.  The
        same ``seed`` gives the same songs.

        Raises:
            MidiError: the model does not read event tokens, or bad options.
        """
        from ..tokens import detokenize
        from .sample import Length, Sampling, prime_tokens, sample_tokens

        if self.scheme != "event":
            raise MidiError(
                f"this model reads {self.scheme} tokens; generating music needs "
                "an event-scheme model"
            )
        if num < 1:
            raise MidiError("--num must be at least 1")
        start = [event_scheme.HEADER]
        if prime is not None:
            if prime_seconds < 0:
                raise MidiError("--prime-seconds must not be negative")
            start = prime_tokens(self.prime_tokens(prime), prime_seconds)
        streams = sample_tokens(
            self.network,
            self.vocab,
            start,
            Length.parse(length),
            Sampling(temperature, top_k, top_p),
            num,
            seed,
        )
        return [detokenize(tokens) for tokens in streams]

    def prime_tokens(self, path: str | Path) -> list[str]:
        """A MIDI file as the tokens this model reads (without the final <eos>)."""
        from ..midi.reader import read
        from ..tokens import tokenize

        if self.scheme == "text":
            raise MidiError("this model reads word text; use --tokens")
        return tokenize(read(path), self.scheme)


def load_model(folder: str | Path) -> TrainedModel:
    """Load MODEL/ (config.json + model.safetensors); never runs code from the files.

    Raises:
        CheckpointError: the folder is missing, truncated or inconsistent.
    """
    folder = Path(folder)
    config = load_config(folder)
    network, vocab = build_model(config)
    load_weights(network, folder / "model.safetensors")
    network.eval()
    return TrainedModel(folder, config, network, vocab)


def _with_vocab(dataset: Dataset, vocab: Vocab) -> Dataset:
    """The dataset re-indexed with the model's vocabulary (same object if they agree)."""
    if dataset.vocab.tokens == vocab.tokens:
        return dataset
    table = np.array(
        [vocab.ids.get(token, UNK_ID) for token in dataset.vocab.tokens], dtype=np.int64
    )
    remapped = _Remapped(dataset.folder, vocab, dataset.meta)
    remapped.table = table
    remapped.source = dataset
    return remapped


class _Remapped(Dataset):
    """A Dataset whose ids pass through a table on the way out."""

    table: np.ndarray
    source: Dataset

    def ids(self, split: str) -> np.ndarray:
        return self.table[self.source.ids(split)].astype(self.vocab.dtype)
