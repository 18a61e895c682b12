"""midigen: learn music from MIDI files and write new music as MIDI.

The public API: ``read`` and ``write`` (bytes <-> Song), ``tokenize`` and
``detokenize`` (Song <-> tokens), ``load_model`` (MODEL/ -> generate, predict,
evaluate) with ``Sampling`` and ``Length``, and the error family.
"""

__version__ = "0.1.0"

from .errors import MidiError, NotMidiError, TokenError, UntimedError
from .midi.reader import read
from .midi.song import Chunk, Event, Riff, Song, Track
from .midi.writer import write
from .tokens import detokenize, tokenize


def load_model(folder=None):
    """Load a trained model folder to generate, predict or evaluate (by default the
    shipped one, from any working directory); see model/trained.py."""
    from .model import default_model
    from .model.trained import load_model as load

    return load(default_model() if folder is None else folder)


def __getattr__(name: str):
    """``midigen.Sampling`` and ``midigen.Length``, imported on first use (they need NumPy,
    which `import midigen` leaves out so that the codec starts fast)."""
    if name in ("Length", "Sampling"):
        from .model import sample

        return getattr(sample, name)
    raise AttributeError(f"module 'midigen' has no attribute {name!r}")


__all__ = [
    "Chunk",
    "Event",
    "Length",
    "MidiError",
    "NotMidiError",
    "Riff",
    "Sampling",
    "Song",
    "TokenError",
    "Track",
    "UntimedError",
    "detokenize",
    "load_model",
    "read",
    "tokenize",
    "write",
]
