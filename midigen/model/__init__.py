"""ids -> MODEL/ -> tokens: the network, training, checkpoints, evaluation and sampling.

Only the modules that train or evaluate import torch; sampling runs in NumPy.
"""

import os
from pathlib import Path

from ..errors import MidiError


def default_model() -> Path:
    """$MIDIGEN_MODEL, else the shipped models/default, installed as package data: the
    model `midigen` and ``midigen.load_model()`` use when given none.

    pyproject.toml maps the repository's models/ folder to the package
    ``midigen.models``, so a wheel, a plain ``pip install .`` and an editable
    install all find it, from any working directory.

    Raises:
        MidiError: $MIDIGEN_MODEL names no model folder (a variable set long ago
            would otherwise surface as a path the user never typed).
    """
    if "MIDIGEN_MODEL" in os.environ:
        folder = Path(os.environ["MIDIGEN_MODEL"])
        if not (folder / "config.json").is_file():
            raise MidiError(f"$MIDIGEN_MODEL is {folder}: not a model folder (no config.json)")
        return folder
    from importlib.resources import files

    return Path(str(files("midigen.models") / "default"))
