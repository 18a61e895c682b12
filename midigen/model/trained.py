"""MODEL/ -> a trained model you can sample from, ask for the next token, or evaluate.

``midigen.load_model(folder)`` is the Python entry point; the `generate`,
`predict` and `evaluate` commands call it too.  Loading reads config.json
and the weights as NumPy arrays: sampling and prediction run in NumPy
(model/stepper.py), and only evaluation builds the PyTorch network, so
generating music never imports torch.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import MidiError
from ..midi.gm import KIT, Instruments
from ..midi.keys import Key, notated_key, with_key_signature
from ..midi.song import Song
from ..tokens.grammar import (
    DRUMS,
    HEADER,
    STEPS_PER_BEAT,
    STYLE_PREFIX,
    VELOCITY_BIN_WIDTH,
    Score,
    has_bar_lines,
    style_name,
    walk,
)
from ..tokens.vocab import PAD_ID, Vocab
from .checkpoint import (
    build_network,
    load_arrays,
    load_config,
    load_network_tensors,
    read_architecture,
    read_piece_quantiles,
    read_style_instruments,
    read_velocities,
)
from .config import ModelConfig
from .continuation import continued
from .sample import Length, Sampling, Steering, Stream, likeliest_style, sample_tokens
from .stepper import Stepper, ThreadTuned

SOFTEST = VELOCITY_BIN_WIDTH  # 8: where VEL_1 begins, the softest velocity a generated note plays

if TYPE_CHECKING:
    from .evaluate import Metrics
    from .network import LanguageModel

EVAL_BPTT = 128
EVAL_BATCH = 32
EVAL_LOGITS = 2**25  # batch x bptt x vocabulary floats at most: big vocabularies, fewer columns


class Piece(NamedTuple):
    """A generated song, and the style it was sampled in (None: a model without styles,
    or one that drew none, having learned pieces without one)."""

    song: Song
    style: str | None


class TrainedModel:
    """A model folder loaded for use: weights, vocabulary, token scheme, recipe."""

    def __init__(
        self,
        folder: Path,
        config: dict[str, Any],
        architecture: ModelConfig,
        vocab: Vocab,
        weights: dict[str, np.ndarray],
    ) -> None:
        self.folder, self.config, self.architecture = folder, config, architecture
        self.vocab, self.weights = vocab, weights
        self.scheme: str = config["scheme"]
        # what each VEL bin plays, and never softer than SOFTEST: the corpus's most common
        # velocity under 8 is 1, a placeholder no instrument sounds
        self.velocities = tuple(max(velocity, SOFTEST) for velocity in read_velocities(config))
        self.piece_quantiles = read_piece_quantiles(config)  # what each style's openings are like
        self.style_instruments = read_style_instruments(config)  # and who plays in them

    @cached_property
    def stepper(self) -> Stepper:
        """The weights as a NumPy network that steps one token at a time."""
        return Stepper(self.architecture, self.weights)

    @cached_property
    def network(self) -> LanguageModel:
        """The weights in a PyTorch network, for evaluation (imports torch)."""
        import torch

        network = build_network(self.architecture)
        tensors = {name: torch.tensor(array) for name, array in self.weights.items()}
        load_network_tensors(network, tensors, self.folder / "model.safetensors")
        network.eval()
        return network

    def evaluate(
        self,
        data: str | Path,
        skipped: Callable[[str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        repaired: Callable[[list[str]], None] | None = None,
    ) -> Metrics:
        """Score a dataset's validation split (all of it, if it has none), or every file
        of a folder of MIDI or text; ``progress`` hears the tokens scored so far and in
        all as it goes.

        For a model with styles, a folder's first-level subfolders name the
        styles of the files in them (as ``prepare --styles`` reads them).
        ``skipped`` hears why each file of a folder that cannot be read was left out,
        and ``repaired`` what the reader mended in each file it kept.

        Raises:
            MidiError: the data cannot be read or holds another token scheme.
        """
        import torch

        from ..data.dataset import dataset_from, reindexed
        from .evaluate import evaluate_split
        from .network import uses_bf16

        with dataset_from(
            data,
            self.scheme,
            vocab=self.vocab,
            valid_fraction=0,
            styles=bool(self.styles),
            skipped=skipped,
            repaired=repaired,
        ) as dataset:
            split = "valid" if len(dataset.pieces("valid")) else "train"
            dataset = reindexed(dataset, self.vocab)
            bf16 = uses_bf16("auto", torch.device("cpu"))  # as training does where it can
            batch = max(1, min(EVAL_BATCH, EVAL_LOGITS // (EVAL_BPTT * len(self.vocab))))
            return evaluate_split(
                self.network,
                dataset,
                split,
                EVAL_BPTT,
                batch,
                bf16=bf16,
                progress=progress,
                tune_threads=True,
            )

    def unknown_tokens(self, tokens: list[str]) -> list[str]:
        """The tokens this model's vocabulary lacks (it reads them as <unk>)."""
        return [token for token in tokens if token not in self.vocab.ids]

    def predict(self, tokens: list[str], top: int = 10) -> list[tuple[str, float]]:
        """The ``top`` most likely next tokens after ``tokens``, with probabilities.

        Raises:
            MidiError: no tokens to continue.
        """
        if not tokens:
            raise MidiError("predict needs some tokens to continue")
        state = self.stepper.initial_state(1)
        with ThreadTuned(self.stepper, 1) as steps:
            for token_id in self.vocab.tokens_to_ids(tokens):
                logits = steps.step(np.array([token_id]), state)[0].astype(np.float64)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        probabilities[PAD_ID] = 0.0
        order = np.argsort(-probabilities, kind="stable")[: min(top, len(self.vocab))]
        return [(self.vocab.tokens[i], float(probabilities[i])) for i in order]

    def generate(self, **options: Any) -> Song:
        """Sample one piece; takes the options of ``generate_pieces``."""
        return self.generate_pieces(num=1, **options)[0].song

    def generate_batch(self, **options: Any) -> list[Song]:
        """Sample ``num`` different pieces at once; takes the options of
        ``generate_pieces``."""
        return [piece.song for piece in self.generate_pieces(**options)]

    def generate_pieces(
        self,
        *,
        num: int,
        length: str | float | Length = "60s",
        prime: str | Path | bytes | Song | None = None,
        prime_seconds: float = 10.0,
        sampling: Sampling | None = None,
        seed: int | None = None,
        style: str | None = None,
        key: str | Key | None = None,
        density: str | float | None = None,
        instruments: str | Sequence[str | int] | Instruments | None = None,
        drums: bool = True,
        free: bool = False,
        progress: Callable[[float], None] | None = None,
    ) -> list[Piece]:
        """Sample ``num`` different pieces at once, as playable songs, each with the
        style it was sampled in: the one asked for, the model's own draw, or the
        prime's likeliest (None for a model without styles).

        ``length`` counts the whole piece, prime included: "60s", "16bars",
        "2000tokens", seconds as a number, or a Length.  With a ``prime`` (a MIDI
        file, its bytes or a Song) each piece is that file's first
        ``prime_seconds``, as the file has them, continued in its tracks
        (continuation.py), with its instruments and tempo unless ``instruments``
        names others or ``free`` is set.  Tempo and meter are set before the first note and
        kept, and so are the key of the first notes (the prime's) and the pulse,
        and each piece aims at the register and ensemble of a piece of its style
        (a continuation at its prime's register), unless ``free``.  ``sampling``
        sets temperature, top-k and top-p (default: the model as it learned).
        The same ``seed`` gives the same songs.  Steering: ``style`` (one the
        model learned, see ``styles``; without it the model draws one, or takes
        the prime's likeliest),
        ``key`` ("C", "Am", "F#m": pitched notes stay in its scale),
        ``density`` ("low", "medium", "high" or notes per second),
        ``instruments`` ("piano,bass,strings": GM names, families, program
        numbers, "drums"), ``drums=False`` (no drum kit).  ``progress`` hears the
        share of the length sampled so far (sample_tokens).

        Raises:
            MidiError: the model does not read event tokens, or bad options.
        """
        from ..midi.reader import read
        from ..tokens.event import event_tokens_to_song, event_tokens_until

        self._check_event_scheme("generating music")
        if num < 1:
            raise MidiError("num must be at least 1")
        if isinstance(length, numbers.Real) and not isinstance(length, bool):  # NumPy's too
            length = f"{length}s"
        if isinstance(length, str):
            length = Length.parse(length)
        start, whole_prime, shortened, whole = [HEADER], [], [], False
        if prime is not None:
            if not prime_seconds >= 0:
                raise MidiError("prime_seconds must not be negative")
            prime_song = prime if isinstance(prime, Song) else read(prime)
            source = "the prime" if isinstance(prime, (Song, bytes)) else prime  # for errors
            whole_prime = self._song_tokens(prime_song, source, shortened)
            start = event_tokens_until(whole_prime, prime_seconds)
            kept = walk(start)
            whole = walk(whole_prime).step <= kept.step  # shorter than its seconds
            if length.reached(Stream(kept, tokens=len(start) - 1)):
                what = (
                    f"the whole prime (shorter than {prime_seconds:g} s) already fills"
                    if whole
                    else f"the prime's first {prime_seconds:g} s already fill"
                )
                raise MidiError(
                    f"{what} the length "
                    f"({length.amount:g} {length.unit}): ask for more, or keep less prime",
                    path=source,
                )
        if isinstance(instruments, (list, tuple)):  # ["piano", "bass"]: as "piano,bass"
            instruments = ",".join(str(named) for named in instruments)
        if isinstance(instruments, str):
            instruments = Instruments.parse(instruments)
        if instruments is None and prime is not None and not free:
            # the prime file's instruments: its first seconds may be a silence or a solo
            instruments = _instruments_of(whole_prime)
        if not drums:
            everything = instruments or Instruments(frozenset(range(128)), False)
            asked = tuple(named for named in everything.asked if KIT not in named)
            instruments = Instruments(everything.programs, False, asked)
            if not instruments.programs:
                raise MidiError("no instruments left to play: drums were the only ones asked")
        if style is not None:
            start.insert(1, self.style_token(style))
        elif prime is not None and (
            style_token := likeliest_style(self.stepper, self.vocab, whole_prime)
        ):
            start.insert(1, style_token)
        steering = Steering(
            key=Key.parse(key) if isinstance(key, str) else key,
            instruments=instruments,
            density=notes_per_second(density),
            keep_tempo=prime is not None and not free,
            steady=not free,
            barred_meters=True,
            settle_key=not free,
            piece_quantiles={} if free else self.piece_quantiles,
            style_instruments={} if free else self.style_instruments,
            settle_pulse=not free,
        )
        streams = sample_tokens(
            self.stepper,
            self.vocab,
            start,
            length=length,
            sampling=sampling or Sampling(),
            steering=steering,
            streams=num,
            seed=seed,
            progress=progress,
        )
        # A piece in seconds or bars ends at its length (the sampler sees to it), and so
        # do the notes a prime holds over it; one in tokens may stop mid-note, and its
        # notes ring on at most a beat past the last step.  A key struck again ends its
        # note, so that each instrument is one track.  A continuation is its prime's own
        # file up to the cut, then the new music in the prime's tracks.
        ring = STEPS_PER_BEAT if length.unit == "tokens" else 0
        songs = [
            continued(
                prime_song,
                start,
                tokens,
                ring_steps=ring,
                velocities=self.velocities,
                shortened=shortened,
                whole=whole,
                key=steering.key,
            )
            if prime is not None
            else event_tokens_to_song(
                tokens, ring_steps=ring, restrike=True, velocities=self.velocities
            )[0]
            for tokens in streams
        ]
        # notated in the key asked for, or the one it plays in
        songs = [
            with_key_signature(song, key) if (key := steering.key or notated_key(song)) else song
            for song in songs
        ]
        return [Piece(song, _style_of(tokens)) for song, tokens in zip(songs, streams, strict=True)]

    def infill(
        self,
        song: Song | str | Path,
        *,
        bars: tuple[int, int] | None = None,
        seconds: tuple[float, float] | None = None,
        candidates: int = 8,
        sampling: Sampling | None = None,
        seed: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> Song:
        """The song with the notes that start in ``bars`` (1-based, both included) or
        ``seconds`` regenerated, everything else kept as it was (model/infill.py);
        ``progress`` hears the share of the candidates' sampling done so far.

        Raises:
            MidiError: not one span, a span outside the song, or a song without ticks.
        """
        from ..midi.reader import read
        from .infill import Span, infill

        self._check_event_scheme("infill")
        if (bars is None) == (seconds is None):
            raise MidiError("give the span as bars or as seconds")
        span = Span(*(bars or seconds), "bars" if bars else "seconds")
        if not isinstance(song, Song):
            song = read(song)
        return infill(
            self.stepper,
            self.vocab,
            song,
            span,
            candidates=candidates,
            sampling=sampling,
            seed=seed,
            velocities=self.velocities,
            progress=progress,
        )

    def _check_event_scheme(self, task: str) -> None:
        """Music comes from event tokens: a chunk or word-text model cannot make it."""
        if self.scheme != "event":
            raise MidiError(
                f"this model reads {self.scheme} tokens; {task} needs an event-scheme model",
                path=self.folder,
            )

    def summary(self) -> dict[str, Any]:
        """What `midigen model` shows: scheme, vocabulary, styles, size, recipe, data, metrics."""
        parameters = sum(array.size for array in self.weights.values())
        data = dict(self.config.get("data") or {})
        data.setdefault("styles", {style: None for style in self.styles})
        return {
            "scheme": self.scheme,
            "vocabulary": len(self.vocab),
            "styles": self.styles,
            "model": self.architecture.to_dict(),
            "parameters": int(parameters),
            "megabytes": round(parameters * 4 / 2**20, 2),
            "training": self.config.get("training") or {},
            "data": data,
            "metrics": self.config.get("metrics") or {},
        }

    @property
    def styles(self) -> list[str]:
        """The styles this model learned (the names of its STYLE_ tokens)."""
        return [
            token[len(STYLE_PREFIX) :]
            for token in self.vocab.tokens
            if token.startswith(STYLE_PREFIX)
        ]

    def style_token(self, style: str) -> str:
        """The STYLE_ token of ``style``, in any case where that names one style.

        Raises:
            MidiError: naming the model's styles, when it did not learn ``style``.
        """
        name = style_name(style)
        token = STYLE_PREFIX + name
        if token not in self.vocab.ids:
            same = [known for known in self.styles if known.casefold() == name.casefold()]
            if len(same) == 1:
                return STYLE_PREFIX + same[0]
            known = ", ".join(self.styles) or "none (prepare its data with --styles)"
            raise MidiError(f"this model knows no style {style!r}; its styles: {known}")
        return token

    def prime_tokens(self, path: str | Path) -> list[str]:
        """A MIDI file as the tokens this model reads (without the final <eos>).

        Raises:
            MidiError: the file cannot be read, or the model reads word text.
        """
        from ..midi.reader import read

        if self.scheme == "text":
            raise MidiError("this model reads word text, not MIDI")
        return self._song_tokens(read(path), path)

    def _song_tokens(
        self, song: Song, path: str | Path, shortened: list[tuple[int, int]] | None = None
    ) -> list[str]:
        """The song as the tokens the model reads; the silences event tokens shorten go to
        ``shortened`` (song_to_event_tokens)."""
        from ..tokens import tokenize
        from ..tokens.event import song_to_event_tokens

        bars = has_bar_lines(self.vocab.ids)
        try:
            if self.scheme == "event":
                return song_to_event_tokens(song, bars, shortened)
            return tokenize(song, self.scheme, bars)
        except MidiError as error:  # a tempo map with no seconds: name the file
            raise error.with_path(path) from None


def load_model(folder: str | Path) -> TrainedModel:
    """Load MODEL/ (config.json + model.safetensors); never runs code from the files.

    Raises:
        CheckpointError: the folder is missing, truncated or inconsistent.
    """
    folder = Path(folder)
    config = load_config(folder)
    architecture, vocab = read_architecture(config)
    weights = load_arrays(folder / "model.safetensors", architecture)
    return TrainedModel(folder, config, architecture, vocab, weights)


def _style_of(tokens: list[str]) -> str | None:
    """The style a stream was sampled in: its STYLE token, right after the header (asked
    for, drawn by the model, or the prime's likeliest)."""
    if len(tokens) > 1 and tokens[1].startswith(STYLE_PREFIX):
        return tokens[1][len(STYLE_PREFIX) :]
    return None


DENSITIES = {"low": 2.5, "medium": 5.0, "high": 12.0}  # notes per second


def notes_per_second(density: str | float | None) -> float | None:
    """'low', 'medium', 'high' or a number of notes per second (checked by Steering).

    Raises:
        MidiError: anything else.
    """
    if density is None or isinstance(density, (int, float)):
        return density
    if density.lower() in DENSITIES:
        return DENSITIES[density.lower()]
    try:
        return float(density)
    except ValueError:
        raise MidiError(
            f"density {density!r} is not low, medium, high or a number of notes per second"
        ) from None


def _instruments_of(tokens: list[str]) -> Instruments | None:
    """The instruments that play in event tokens (None when nothing plays)."""
    score = Score()
    walk(tokens, score)
    played = {note.instrument for note in score.notes}
    if not played:
        return None
    return Instruments(frozenset(played - {DRUMS}), DRUMS in played)
