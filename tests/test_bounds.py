"""Time and memory bounded by the input: crafted files, token text and model folders that
once took minutes or gigabytes now give a sane result or one clear error, quickly."""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import midigen
from midigen.cli import main
from midigen.tokens.grammar import vocabulary

DATA = Path(__file__).parent / "data"


def smf(track: bytes, division: int = 1, tracks: int = 1, smf_format: int = 0) -> bytes:
    header = smf_format.to_bytes(2, "big") + tracks.to_bytes(2, "big") + division.to_bytes(2, "big")
    return (
        b"MThd" + (6).to_bytes(4, "big") + header + b"MTrk" + len(track).to_bytes(4, "big") + track
    )


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


class Budget:
    """A loose bound on CPU time (the machine's other work does not count) and on memory
    growth, not a benchmark: what it catches takes minutes or gigabytes."""

    def __init__(self, seconds: float, megabytes: float) -> None:
        self.seconds, self.megabytes = seconds, megabytes

    def __enter__(self) -> Budget:
        self.started = time.process_time()
        self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc) -> None:
        assert time.process_time() - self.started < self.seconds
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.peak) / 1024
        assert grown < self.megabytes


def test_a_huge_silence_makes_few_tokens_and_says_so():
    track = bytes([0x00, 0x90, 60, 64, 0x81, 0x00, 0x80, 60, 0])  # one note
    track += bytes([0xFF, 0xFF, 0xFF, 0x7F, 0x90, 62, 64, 0x10, 0x80, 62, 0, 0x00, 0xFF, 0x2F, 0])
    song = midigen.read(smf(track))
    with Budget(seconds=2, megabytes=50):
        tokens = midigen.tokenize(song, "event")
    assert len(tokens) < 150  # 256 beats: 64 bars of BAR SHIFT_96
    assert tokens.count("BAR") == 65
    assert "silence of up to 268,435,583 beats shortened to 256 beats" in str(song.warnings[-1])
    decoded = midigen.detokenize(tokens)
    assert len(decoded.tracks) == 2  # the conductor and the piano, both notes there


def test_many_notes_on_one_key_and_step_decode_quickly_into_few_tracks():
    tokens = ["EVENT_24"] + ["NOTE_60", "VEL_8", "DUR_24"] * 20_000
    with Budget(seconds=2, megabytes=150):
        song = midigen.detokenize(tokens)
        data = midigen.write(song)
    assert len(song.tracks) == 17  # the conductor and 16 voices
    assert str(song.warnings[-1]).startswith("19984 notes left out: more than 16 of one key")
    assert midigen.read(data, strict=True)


def test_writing_more_tracks_than_a_file_can_hold_is_a_midi_error():
    song = midigen.Song(format=1, division=96, tracks=[midigen.Track() for _ in range(70_000)])
    with pytest.raises(midigen.MidiError, match="at most 65,535 tracks; this song has 70,000"):
        midigen.write(song)


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "song.mid"
    os.mkfifo(fifo)
    with Budget(seconds=2, megabytes=50):
        result = run("info", fifo)
    assert result.exit_code == 1
    assert result.stderr == f"error: {fifo}: not a regular file\n"


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_model_files_that_are_devices_or_fifos_are_refused(tmp_path, name):
    model = tmp_path / "model"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "default", model)
    (model / name).unlink()
    if name == "config.json":
        (model / name).symlink_to("/dev/zero")
    else:
        os.mkfifo(model / name)
    with Budget(seconds=2, megabytes=50):
        result = run("generate", "-m", model, "-o", tmp_path / "x.mid")
    assert result.exit_code == 1
    assert result.stderr == f"error: {model / name}: not a regular file\n"


def test_a_config_that_promises_huge_weights_fails_before_allocating(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "default", model)
    config = json.loads((model / "config.json").read_text())
    config["model"]["hidden"] = 8000
    (model / "config.json").write_text(json.dumps(config))
    with Budget(seconds=2, megabytes=150):
        result = run("generate", "-m", model, "-o", tmp_path / "x.mid")
    assert result.exit_code == 1
    assert "weights do not match config.json" in result.stderr


def test_outputs_that_would_collide_are_refused_before_writing(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(DATA / "pymidi_mary.mid", tmp_path / folder / "y.mid")
    result = run(
        "tokenize", tmp_path / "a" / "y.mid", tmp_path / "b" / "y.mid", "-o", tmp_path / "out"
    )
    assert result.exit_code == 1
    assert "would both be written to" in result.stderr
    assert not (tmp_path / "out").exists()
    shutil.copy(DATA / "pymidi_mary.mid", tmp_path / "a" / "y.MIDI")
    result = run("tokenize", tmp_path / "a", "-o", tmp_path / "out")
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


def test_an_output_folder_inside_the_input_folder_is_refused(tmp_path):
    shutil.copy(DATA / "pymidi_mary.mid", tmp_path / "song.mid")
    for output in (tmp_path, tmp_path / "tokens"):
        result = run("tokenize", tmp_path, "-o", output)
        assert result.exit_code == 1
        assert "the output folder is the input folder or inside it" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid"]


def test_many_truncated_tracks_read_in_linear_time():
    track = b"MTrk\xff\xff\xff\xff\x00\xff\x2f\x00"  # declares 4 GB, holds End of Track
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 1, 0, 1, 0, 96])
    with Budget(seconds=2, megabytes=200):
        song = midigen.read(header + track * 150_000)  # 1.8 MB
    assert len(song.tracks) == 150_000


def shipped_copy(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "default", model)
    return model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden": 384.5}, "hidden must be a whole number, not 384.5"),
        ({"tie_weights": "yes"}, "tie_weights must be true or false, not 'yes'"),
        ({"dropout": "a lot"}, "dropout must be a number, not 'a lot'"),
    ],
)
def test_odd_model_settings_are_one_error_line(tmp_path, change, message):
    model = shipped_copy(tmp_path)
    config = json.loads((model / "config.json").read_text())
    config["model"].update(change)
    (model / "config.json").write_text(json.dumps(config))
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid")
    assert result.exit_code == 1
    assert result.stderr == f"error: config.json: {message}\n"


def test_an_event_model_without_the_event_tokens_is_refused(tmp_path):
    model = shipped_copy(tmp_path)
    config = json.loads((model / "config.json").read_text())
    config["vocab"][3] = "HELLO"  # where EVENT_24 was
    (model / "config.json").write_text(json.dumps(config))
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid")
    assert result.exit_code == 1
    assert "an event model's vocabulary lacks 1 event token (EVENT_24...)" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_output_folders_are_one_error_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run("prepare", DATA, "-o", locked / "data", "--jobs", "1")
        assert result.exit_code == 1 and "cannot write" in result.stderr
        result = run("train", DATA, "-o", locked / "model", "--steps", "1")
        assert result.exit_code == 1 and "cannot write" in result.stderr
    finally:
        locked.chmod(0o700)


def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_full_disk_while_preparing_is_one_error_line_and_leaves_nothing(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setattr(np, "save", disk_full)
    result = run("prepare", DATA, "-o", tmp_path / "data", "--jobs", "1")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'data'}: cannot write: No space left on device\n" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def test_a_full_disk_while_checkpointing_is_one_error_line(tmp_path, monkeypatch):
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    result = run("train", DATA, "-o", tmp_path / "model", "--steps", "1", "--hidden", "8",
                 "--embed", "8", "--bptt", "8", "--batch-size", "2")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].endswith("cannot write: No space left on device")
    assert not [p for p in (tmp_path / "model").iterdir() if p.name.startswith(".")]


TOKENS = st.sampled_from(
    [*vocabulary(), "SHIFT_0", "SHIFT_99999", "NOTE_128", "VEL_16", "TIMESIG_255_1", "x", "<eos>"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(TOKENS, st.sampled_from([1, 1, 2, 50, 3000])), max_size=40))
def test_any_event_tokens_decode_fast_into_a_file_that_reads(runs):
    tokens = ["EVENT_24"] + [token for token, times in runs for _ in range(times)]
    with Budget(seconds=2, megabytes=200):
        song = midigen.detokenize(tokens)
        data = midigen.write(song)
    assert midigen.read(data, strict=True).tracks


def vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 0x0FFFFFFF), min_size=1, max_size=30),
    st.sampled_from([1, 24, 96, 480, 0x7FFF]),
)
def test_any_delta_times_tokenize_into_few_tokens(deltas, division):
    track = b"".join(vlq(delta) + bytes([0x90, 60, 64]) for delta in deltas)
    track += b"\x00\xff\x2f\x00"
    song = midigen.read(smf(track, division=division))
    with Budget(seconds=2, megabytes=200):
        tokens = midigen.tokenize(song, "event")
    # every silence costs at most the 64 bars a long rest is cut to
    assert len(tokens) <= 16 + len(deltas) * (256 // 4 * 2 + 8)  # BAR SHIFT_96 a bar


def test_token_text_larger_than_the_limit_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as stream:  # 50 MB, sparse: only the size is looked at
        stream.truncate(50 * 2**20)
    with Budget(seconds=2, megabytes=50):
        result = run("detokenize", huge, "-o", tmp_path / "huge.mid")
    assert result.exit_code == 1
    assert result.stderr == f"error: {huge}: 52,428,800 bytes: larger than the 33,554,432 allowed\n"


def test_weights_that_are_not_finite_are_refused_when_loading(tmp_path):
    from safetensors.numpy import load_file, save_file

    model = shipped_copy(tmp_path)
    weights = load_file(str(model / "model.safetensors"))
    weights["output.bias"][5] = float("nan")
    save_file(weights, str(model / "model.safetensors"))
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid")
    assert result.exit_code == 1
    assert result.stderr == f"error: {model / 'model.safetensors'}: weights hold NaN or infinity\n"
    assert not (tmp_path / "x.mid").exists()
