"""midigen: learn music from MIDI files and write new music as MIDI.

The public API: ``read`` and ``write`` (bytes <-> Song), ``tokenize`` and
``detokenize`` (Song <-> tokens), and the error family.
"""

__version__ = "0.1.0"

from .errors import MidiError, NotMidiError, TokenError
from .midi.reader import read
from .midi.song import Chunk, Event, Riff, Song, Track
from .midi.writer import write
from .tokens import detokenize, tokenize


def load_model(folder):
    """Load a trained model folder (imports torch on first use); see trained.py."""
    from .model.trained import load_model as load

    return load(folder)


__all__ = [
    "Chunk",
    "Event",
    "MidiError",
    "NotMidiError",
    "Riff",
    "Song",
    "TokenError",
    "Track",
    "detokenize",
    "read",
    "tokenize",
    "write",
]
