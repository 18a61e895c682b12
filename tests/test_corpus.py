"""Whole files: byte-exact round trips over tests/data and over the shared corpus.

The shared corpus (../shared/corpus beside the repository, or $MIDIGEN_SHARED_CORPUS)
is described in its README.md; MANIFEST.json says per file whether it is ``valid``.
Tests on it skip when it is absent.
"""

import json
import os
from pathlib import Path

import pytest

from midigen import MidiError, read, write

DATA = Path(__file__).parent / "data"
VALID_DATA = sorted(DATA.glob("*.mid"))
BROKEN_DATA = sorted((DATA / "broken").glob("*.mid"))

CORPUS = Path(
    os.environ.get("MIDIGEN_SHARED_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no shared corpus at {CORPUS}")


def corpus_files(folder: str) -> list[Path]:
    return sorted((CORPUS / folder).glob("*.mid")) if CORPUS.is_dir() else []


def manifest_files(valid: bool) -> list[Path]:
    path = CORPUS / "MANIFEST.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text())["files"]
    return [
        CORPUS / e["folder"] / e["name"]
        for e in entries
        if e["folder"] == "malformed" and e["valid"] is valid
    ]


def names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def assert_round_trip(path: Path) -> None:
    data = path.read_bytes()
    song = read(data, strict=True)
    assert song.warnings == []
    assert write(song) == data


# -- tests/data -------------------------------------------------------------


def test_data_files_present():
    assert len(VALID_DATA) >= 8 and len(BROKEN_DATA) >= 2


@pytest.mark.parametrize("path", VALID_DATA, ids=names(VALID_DATA))
def test_data_round_trip(path):
    assert_round_trip(path)


@pytest.mark.parametrize("path", BROKEN_DATA, ids=names(BROKEN_DATA))
def test_broken_data_is_repaired(path):
    """Strict reads refuse these; tolerant reads repair them into files strict reads accept."""
    with pytest.raises(MidiError):
        read(path, strict=True)
    song = read(path)
    assert song.warnings
    repaired = read(write(song), strict=True)
    assert repaired.warnings == []
    assert write(repaired) == write(song)


# -- the shared corpus ------------------------------------------------------

REAL = corpus_files("real")
MALFORMED = corpus_files("malformed")
VALID = manifest_files(valid=True)
INVALID = manifest_files(valid=False)


@needs_corpus
def test_corpus_found():
    assert REAL and MALFORMED and VALID and INVALID


@needs_corpus
@pytest.mark.parametrize("path", REAL, ids=names(REAL))
def test_real_round_trip(path):
    assert_round_trip(path)


@needs_corpus
@pytest.mark.parametrize("strict", [False, True], ids=["tolerant", "strict"])
@pytest.mark.parametrize("path", MALFORMED, ids=names(MALFORMED))
def test_malformed_reads_or_raises_midi_error(path, strict):
    try:
        song = read(path, strict=strict)
    except MidiError as error:
        assert str(error).startswith(f"{path}: ")
        return
    write(song)  # whatever a read accepts, the writer can encode


@needs_corpus
@pytest.mark.parametrize("path", INVALID, ids=names(INVALID))
def test_invalid_raises_when_strict(path):
    with pytest.raises(MidiError):
        read(path, strict=True)


@needs_corpus
@pytest.mark.parametrize("path", VALID, ids=names(VALID))
def test_valid_round_trip(path):
    assert_round_trip(path)
