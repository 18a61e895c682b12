"""`prepare`: the dataset layout, a stable split, augmentation, bad files, determinism."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from midigen.cli import main
from midigen.data.dataset import PrepareConfig, open_dataset, prepare, split_position
from midigen.data.openings import BOUNDS
from midigen.errors import MidiError
from midigen.tokens.vocab import EOS_ID, Vocab

DATA = Path(__file__).parent / "data"
MIDI_FILES = sorted(p for p in DATA.glob("*.mid") if "smpte" not in p.name)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in MIDI_FILES:
        shutil.copy(path, folder / path.name)
    return folder


def load(dataset: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.load(dataset / f"{split}.npy", mmap_mode="r"),
        np.load(dataset / f"{split}_pieces.npy"),
    )


def splits(dataset: Path) -> dict[str, str]:
    meta = json.loads((dataset / "meta.json").read_text())
    return {Path(f["path"]).name: f["split"] for f in meta["files"]}


def test_layout_and_pieces(corpus, tmp_path):
    out = tmp_path / "data"
    report = prepare([corpus], out, PrepareConfig(valid_fraction=0.3))
    assert sorted(p.name for p in out.iterdir()) == [
        "meta.json",
        "train.npy",
        "train_pieces.npy",
        "valid.npy",
        "valid_pieces.npy",
        "vocab.json",
    ]
    vocab = Vocab.load(out / "vocab.json")
    assert len(vocab) == report.vocab_size < 1000
    for split in ("train", "valid"):
        ids, pieces = load(out, split)
        assert len(pieces) == report.counts[split]["pieces"] > 0
        assert pieces[:, 1].sum() == len(ids) == report.counts[split]["tokens"]
        for offset, length, _ in pieces:
            assert vocab.tokens[ids[offset]] == "EVENT_24"
            assert ids[offset + length - 1] == EOS_ID
    meta = json.loads((out / "meta.json").read_text())
    assert meta["scheme"] == "event"
    assert len(meta["files"]) == len(MIDI_FILES)


def test_same_inputs_give_identical_bytes(corpus, tmp_path):
    config = PrepareConfig(valid_fraction=0.3, transpose=(-2, 2))
    prepare([corpus], tmp_path / "a", config)
    prepare([corpus], tmp_path / "b", config, jobs=2)
    for name in ("train.npy", "valid.npy", "train_pieces.npy", "valid_pieces.npy", "vocab.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_split_is_stable_when_files_are_added_or_renamed(corpus, tmp_path):
    prepare([corpus], tmp_path / "before", PrepareConfig(valid_fraction=0.5))
    before = splits(tmp_path / "before")
    first = MIDI_FILES[0]
    (corpus / first.name).rename(corpus / "renamed.mid")
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(DATA / "broken" / "crafted_running_status_after_meta.mid", extra / "new.mid")
    prepare([corpus, extra], tmp_path / "after", PrepareConfig(valid_fraction=0.5))
    after = splits(tmp_path / "after")
    assert after.pop("renamed.mid") == before.pop(first.name)
    after.pop("new.mid")
    assert after == before


def test_transposition_augments_training_only_and_leaves_drums(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in MIDI_FILES:
        shutil.copy(path, folder / path.name)
    plain = prepare([folder], tmp_path / "plain", PrepareConfig(valid_fraction=0.3))
    moved = prepare(
        [folder], tmp_path / "moved", PrepareConfig(valid_fraction=0.3, transpose=(-1, 1))
    )
    assert moved.counts["valid"] == plain.counts["valid"]
    assert moved.counts["train"]["pieces"] <= 3 * plain.counts["train"]["pieces"]
    assert moved.counts["train"]["pieces"] > plain.counts["train"]["pieces"]
    vocab = Vocab.load(tmp_path / "moved" / "vocab.json")
    ids, pieces = load(tmp_path / "moved", "train")
    original = pieces[: plain.counts["train"]["pieces"]]
    shifted = pieces[plain.counts["train"]["pieces"] :]
    offset, length, _ = original[0]
    first = vocab.ids_to_tokens(ids[offset : offset + length])
    up = next(
        vocab.ids_to_tokens(ids[o : o + n])
        for o, n, _ in shifted
        if n == length and vocab.ids_to_tokens(ids[o : o + n]) != first
    )
    for a, b in zip(first, up, strict=True):
        if a.startswith("NOTE_"):
            assert abs(int(b[5:]) - int(a[5:])) == 1
        else:
            assert a == b  # drums, durations, programs untouched


def test_word_text_is_a_token_stream(tmp_path):
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "cat.txt").write_text("the cat sat\n\non the mat\n")
    prepare([folder], tmp_path / "data", PrepareConfig(scheme="text", valid_fraction=0))
    vocab = Vocab.load(tmp_path / "data" / "vocab.json")
    ids, _ = load(tmp_path / "data", "train")
    assert vocab.ids_to_tokens(ids) == ["the", "cat", "sat", "<eos>", "on", "the", "mat", "<eos>"]


def test_an_empty_text_file_is_no_piece(tmp_path):
    """It would take a batch column of nothing (and, alone in the validation split,
    stopped training at its first validation)."""
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "cat.txt").write_text("the cat sat\n\non the mat\n")
    (folder / "empty.txt").write_text("")
    prepare([folder], tmp_path / "data", PrepareConfig(scheme="text", valid_fraction=0))
    assert open_dataset(tmp_path / "data").pieces("train")[:, 1].tolist() == [4, 4]


def test_min_count_maps_rare_words_to_unk(tmp_path):
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "a.txt").write_text("a a a b\n")
    prepare(
        [folder], tmp_path / "data", PrepareConfig(scheme="text", valid_fraction=0, min_count=2)
    )
    vocab = Vocab.load(tmp_path / "data" / "vocab.json")
    ids, _ = load(tmp_path / "data", "train")
    assert vocab.ids_to_tokens(ids) == ["a", "a", "a", "<unk>", "<eos>"]


def test_bad_files_are_skipped_and_reported(corpus, tmp_path):
    (corpus / "broken.mid").write_bytes(b"not midi at all")
    result = CliRunner().invoke(
        main, ["prepare", str(corpus), "-o", str(tmp_path / "data"), "--jobs", "1"]
    )
    assert result.exit_code == 1
    assert f"error: {corpus / 'broken.mid'}: not a MIDI file" in result.stderr
    assert f"error: skipped 1 file of {len(MIDI_FILES) + 1}" in result.stderr
    assert (tmp_path / "data" / "train.npy").exists()


def test_every_skipped_file_is_named(corpus, tmp_path):
    broken = [corpus / f"broken-{k}.mid" for k in range(7)]  # more than a screenful's share
    for path in broken:
        path.write_bytes(b"not midi at all")
    result = CliRunner().invoke(
        main, ["prepare", str(corpus), "-o", str(tmp_path / "data"), "--jobs", "1"]
    )
    assert result.exit_code == 1
    named = [line.split(": not a MIDI file")[0] for line in result.stderr.splitlines()]
    assert named[:-1] == [f"error: {path}" for path in broken]
    assert named[-1] == f"error: skipped 7 files of {len(MIDI_FILES) + 7}"


def test_a_text_file_that_is_not_token_text_is_named_as_such(corpus, tmp_path):
    (corpus / "notes.txt").write_text("my songs, with the ones I like best first\n")
    (corpus / "song.txt").write_bytes(MIDI_FILES[0].read_bytes())  # a MIDI file, misnamed
    result = CliRunner().invoke(
        main, ["prepare", str(corpus), "-o", str(tmp_path / "data"), "--jobs", "1"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: {corpus / 'notes.txt'}: not token text: it starts with b'my songs'"
    )
    assert f"error: skipped 1 file of {len(MIDI_FILES) + 2}" in result.stderr


def test_repaired_files_are_kept_and_reported(corpus, tmp_path):
    mended = corpus / "no_end.mid"
    mended.write_bytes((Path(__file__).parent / "data/broken/crafted_missing_eot.mid").read_bytes())
    result = CliRunner().invoke(
        main, ["prepare", str(corpus), "-o", str(tmp_path / "data"), "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert f"warning: {mended}: " in result.stderr
    assert "warning: kept 1 file that needed repairs" in result.stderr
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert len(meta["files"]) == len(MIDI_FILES) + 1


def test_transpose_option_takes_negative_ranges(corpus, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "prepare",
            str(corpus),
            "-o",
            str(tmp_path / "data"),
            "--transpose",
            "-5..6",
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["transpose"] == [-5, 6]


def test_unreadable_corpus_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        main, ["prepare", str(tmp_path / "none"), "-o", str(tmp_path / "data")]
    )
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'none'}: no such file or folder\n"
    with pytest.raises(MidiError, match="transposition needs the event scheme"):
        prepare([DATA], tmp_path / "x", PrepareConfig(scheme="chunk", transpose=(-1, 1)))


def test_an_existing_folder_that_is_not_a_dataset_is_left_alone(corpus, tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(MidiError, match="not a dataset folder"):
        prepare([corpus], target, PrepareConfig())
    assert (target / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def write_notes(path: Path, velocities: list[int], pitches: list[int] | None = None) -> None:
    """A one-track file playing a quarter note at each of ``velocities``, rising by
    semitones from middle C unless ``pitches`` (repeated) say otherwise."""
    import mido

    pitches = pitches or [60 + k for k in range(12)]
    track = mido.MidiTrack()
    for k, velocity in enumerate(velocities):
        pitch = pitches[k % len(pitches)]
        track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    song = mido.MidiFile(ticks_per_beat=480)
    song.tracks.append(track)
    song.save(path)


def test_each_velocity_bin_decodes_to_what_the_training_notes_played_most(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    # a score at a constant 90 (bin 88..95, middle 92), and one with 64s and a few 70s
    write_notes(folder / "score.mid", [90] * 40)
    write_notes(folder / "hymn.mid", [64] * 30 + [70] * 10)
    prepare([folder], tmp_path / "data", PrepareConfig(valid_fraction=0.0))
    table = json.loads((tmp_path / "data" / "meta.json").read_text())["velocities"]
    assert len(table) == 16
    assert table[90 // 8] == 90 and table[64 // 8] == 64
    untouched = [b for b in range(16) if b not in (90 // 8, 64 // 8)]
    assert all(table[b] == b * 8 + 4 for b in untouched)  # no notes there: the middle


def test_only_training_files_set_the_velocities(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for k in range(12):
        write_notes(folder / f"piece{k}.mid", [89 + k % 2] * (10 + k))
    prepare([folder], tmp_path / "data", PrepareConfig(valid_fraction=0.5))
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    played = {89: 0, 90: 0}
    for entry in meta["files"]:
        if entry["split"] == "train":
            k = int(Path(entry["path"]).stem[5:])
            played[89 + k % 2] += 10 + k
    assert played[89] != played[90]
    assert meta["velocities"][11] == max(played, key=played.get)


def test_each_style_records_what_its_training_pieces_openings_are_like(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "hymns").mkdir(parents=True)
    (corpus / "jazz").mkdir()
    c_major = [60, 62, 64, 65, 67, 69, 71]
    for k in range(5):  # all in C major but for k sharps in 40 notes
        write_notes(corpus / "hymns" / f"hymn{k}.mid", [80] * 40, c_major * 5 + [61] * k)
    for k in range(3):  # chromatic: 7 of every 12 notes fit one scale
        write_notes(corpus / "jazz" / f"tune{k}.mid", [80] * (48 + 24 * k), [48 + k, 49 + k])
    (corpus / "jazz" / "tune3.txt").write_text("EVENT_24 SHIFT_24\n")  # no notes, no figures
    prepare([corpus], tmp_path / "data", PrepareConfig(valid_fraction=0.0, styles=True))
    quantiles = json.loads((tmp_path / "data" / "meta.json").read_text())["piece_quantiles"]
    assert set(quantiles) == set(BOUNDS)
    shares = quantiles["key_share"]
    assert set(shares) == {"hymns", "jazz"}
    assert shares["jazz"] == [1.0] * 11  # two neighbouring notes fit a scale
    hymns = shares["hymns"]  # the deciles of 40/40, 39/40 .. 36/40
    assert len(hymns) == 11 and hymns[0] == 36 / 40 and hymns[-1] == 1.0
    assert hymns == sorted(hymns) and hymns[5] == 38 / 40
    # the jazz tunes sit at 48.5, 49.5 and 50.5, half a semitone either side, on one piano
    assert quantiles["mean_pitch"]["jazz"][::5] == [48.5, 49.5, 50.5]
    assert quantiles["reach_below"]["jazz"] == quantiles["reach_above"]["jazz"] == [0.5] * 11
    assert quantiles["instruments"]["jazz"] == [1.0] * 11
    assert quantiles["velocity_bins"]["hymns"] == [1.0] * 11  # all at 80
    assert quantiles["notes_per_onset"]["hymns"] == [1.0] * 11  # one note at a time
    instruments = json.loads((tmp_path / "data" / "meta.json").read_text())["style_instruments"]
    assert instruments == {"hymns": {"0": 1.0}, "jazz": {"0": 1.0}}  # all on the piano


def test_a_validation_split_that_outweighs_the_training_split_is_warned_of(tmp_path):
    # two files: one goes whole to validation, and here it is the longer one
    folder = tmp_path / "words"
    folder.mkdir()
    short, long = "a b c d\n", "a b c d e f g h\n" * 20 + "x " * 2 + "\n"
    digests = [hashlib.sha256(text.encode()).hexdigest() for text in (short, long)]
    assert split_position(digests[1]) < split_position(digests[0])  # the long one held out
    (folder / "short.txt").write_text(short)
    (folder / "long.txt").write_text(long)
    result = CliRunner().invoke(
        main, ["prepare", str(folder), "-o", str(tmp_path / "data"), "--scheme", "text"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: the validation split holds more tokens than the training split" in (
        result.stderr
    )
