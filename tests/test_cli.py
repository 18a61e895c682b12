"""The command line: exit codes, exact error lines, folder mode, atomic outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import pretty_midi
import pytest
from click.testing import CliRunner

from midigen.cli import main

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "crafted_mixed_running_status.mid"
TRUNCATED_TRACK = (
    b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\x90\x3c\x40"
)


def run(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("info", "tokenize", "detokenize"):
        assert command in result.output


def test_python_dash_m_runs_the_cli():
    completed = subprocess.run(
        [sys.executable, "-m", "midigen", "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "tokenize" in completed.stdout


def test_help_does_not_import_torch():
    code = (
        "import sys; from midigen.cli import main\n"
        "try: main(['info', sys.argv[1]])\n"
        "except SystemExit: pass\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(SAMPLE)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_info_text_and_json():
    result = run("info", SAMPLE)
    assert result.exit_code == 0
    assert "format 0, 96 ticks per quarter, 1 track, 13 events, 5 notes" in result.output
    result = run("info", "--json", SAMPLE)
    summary = json.loads(result.output)[0]
    assert summary["file"] == str(SAMPLE)
    assert summary["notes"] > 0
    assert summary["tracks"] == 1


def test_info_lists_the_programs_notes_play_not_every_program_set(tmp_path):
    """A program set and changed before any note plays, one set after the last note, and
    one a second track sets on its channel before its note: the notes play 61 and 33."""
    midi = mido.MidiFile()
    lead, bass = midi.add_track(), midi.add_track()
    lead.extend(
        [
            mido.Message("program_change", program=59),
            mido.Message("program_change", program=61),
            mido.Message("note_on", note=67, velocity=80),
            mido.Message("note_off", note=67, time=480),
            mido.Message("program_change", program=63, time=480),  # after its last note
        ]
    )
    bass.extend(
        [
            mido.Message("program_change", channel=1, program=33, time=240),
            mido.Message("note_on", channel=1, note=40, velocity=80, time=240),
            mido.Message("note_off", channel=1, note=40, time=480),
        ]
    )
    midi.save(tmp_path / "phantoms.mid")
    summary = json.loads(run("info", "--json", tmp_path / "phantoms.mid").output)[0]
    assert [(i["channel"], i["program"]) for i in summary["instruments"]] == [(1, 61), (2, 33)]
    assert (summary["tracks"], summary["tracks_with_notes"]) == (2, 2)


def test_info_names_the_meters_and_keys_a_file_gives_in_time_order(tmp_path):
    midi = mido.MidiFile()
    conductor, tune = midi.add_track(), midi.add_track()
    conductor.extend(
        [
            mido.MetaMessage("time_signature", numerator=6, denominator=8),
            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=960),
            mido.MetaMessage("time_signature", numerator=6, denominator=8, time=960),
        ]
    )
    tune.extend([mido.MetaMessage("key_signature", key="Gm", time=1200),
                 mido.MetaMessage("key_signature", key="Bb"),
                 mido.Message("note_on", note=67, velocity=80),
                 mido.Message("note_off", note=67, time=480)])  # fmt: skip
    midi.save(tmp_path / "song.mid")
    result = run("info", tmp_path / "song.mid")
    assert result.exit_code == 0, result.output
    assert "  meter 6/8, 3/4, key G minor, Bb major\n" in result.output
    summary = json.loads(run("info", "--json", tmp_path / "song.mid").output)[0]
    assert summary["meters"] == ["6/8", "3/4"] and summary["keys"] == ["G minor", "Bb major"]
    assert "  meter none given (4/4), key none given\n" in run("info", SAMPLE).output


def test_missing_file_is_one_error_line():
    result = run("info", "no/such.mid")
    assert result.exit_code == 1
    assert result.stderr == "error: no/such.mid: no such file or folder\n"


def test_bad_file_is_one_error_line_with_position(tmp_path):
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    result = run("info", empty)
    assert result.exit_code == 1
    assert result.stderr == f"error: {empty}: empty file (byte 0)\n"


def test_strict_names_track_and_byte(tmp_path):
    broken = tmp_path / "cut.mid"
    broken.write_bytes(TRUNCATED_TRACK)
    result = run("tokenize", "--strict", broken)
    assert result.exit_code == 1
    assert result.stderr == f"error: {broken}: track has no End of Track event (track 0, byte 26)\n"
    assert result.stdout == ""


def test_tolerant_tokenize_warns_and_succeeds(tmp_path):
    broken = tmp_path / "cut.mid"
    broken.write_bytes(TRUNCATED_TRACK)
    result = run("tokenize", broken)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {broken}: track has no End of Track event")
    assert result.stdout.split() == ["MTHD_0000_0060", "MTRK", "00_90_3C40"]


def test_tokenize_to_stdout_then_detokenize_gives_the_same_bytes(tmp_path):
    text = tmp_path / "song.txt"
    text.write_text(run("tokenize", SAMPLE).stdout)
    result = run("detokenize", text, "-o", tmp_path / "song.mid")
    assert result.exit_code == 0
    assert (tmp_path / "song.mid").read_bytes() == SAMPLE.read_bytes()
    # as a Windows editor saves it: a byte order mark, CRLF line ends
    saved = tmp_path / "saved.txt"
    saved.write_bytes(b"\xef\xbb\xbf" + text.read_bytes().replace(b"\n", b"\r\n"))
    result = run("detokenize", saved, "-o", tmp_path / "saved.mid")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "saved.mid").read_bytes() == SAMPLE.read_bytes()
    (tmp_path / "empty.txt").write_text("")
    result = run("detokenize", tmp_path / "empty.txt", "-o", tmp_path / "empty.mid")
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'empty.txt'}: no tokens: the text is empty\n"


def test_token_text_and_midi_bytes_go_only_where_their_names_say(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("tokenize", SAMPLE, "-o", "-").stdout == run("tokenize", SAMPLE).stdout
    (tmp_path / "song.txt").write_text(run("tokenize", SAMPLE).stdout)
    for command, source, wrong, ending in (
        ("tokenize", SAMPLE, "tokens.mid", ".txt"),
        ("detokenize", tmp_path / "song.txt", "song.wav", ".mid or .midi"),
    ):
        result = run(command, source, "-o", wrong)
        assert result.exit_code == 2
        assert result.stderr.endswith(f"-o: must end in {ending}, or be - for stdout\n")
    (tmp_path / "in").mkdir()
    shutil.copy(SAMPLE, tmp_path / "in")
    result = run("tokenize", "in", "-o", "-")  # a folder's files cannot all go to stdout
    assert result.exit_code == 2 and "need -o OUTPUT_FOLDER" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in", "song.txt"]  # no "-"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_folder_round_trip_skips_and_reports_bad_files(tmp_path, jobs):
    source = tmp_path / "midi"
    (source / "nested").mkdir(parents=True)
    good = sorted(p for p in DATA.glob("*.mid"))[:4]
    for path in good:
        shutil.copy(path, source / "nested" / path.name)
    (source / "bad.mid").write_bytes(b"not a midi file")
    result = run("tokenize", source, "-o", tmp_path / "tokens", "--jobs", jobs)
    assert result.exit_code == 1
    assert f"error: {source / 'bad.mid'}: not a MIDI file" in result.stderr
    assert "error: 1 of 5 files failed" in result.stderr
    result = run("detokenize", tmp_path / "tokens", "-o", tmp_path / "back", "--jobs", jobs)
    assert result.exit_code == 0
    for path in good:
        assert (tmp_path / "back" / "nested" / path.name).read_bytes() == path.read_bytes()
    assert not (tmp_path / "back" / "bad.mid").exists()


def test_several_inputs_need_an_output_folder(tmp_path):
    result = run("tokenize", SAMPLE, SAMPLE)
    assert result.exit_code == 2
    assert "need -o" in result.stderr
    # a file's name is no folder to make (tokenize a.mid b.mid -o both.txt made one)
    for name in ("both.txt", "both.mid"):
        result = run("tokenize", SAMPLE, SAMPLE, "-o", tmp_path / name)
        assert result.exit_code == 2
        assert f"and this names a {name[4:]} file" in result.stderr
        assert not (tmp_path / name).exists()
    (tmp_path / "notes.txt").mkdir()  # a folder so named, made by the user, is one
    assert run("tokenize", SAMPLE, "-o", tmp_path / "notes.txt").exit_code == 0


def test_an_input_is_never_overwritten(tmp_path):
    song = tmp_path / "song.mid"
    shutil.copy(SAMPLE, song)
    text = tmp_path / "song.mid.mid"  # token text under a MIDI file's name: -o passes for it
    text.write_text(run("tokenize", song).stdout)
    result = run("detokenize", text, "-o", text)
    assert result.exit_code == 1
    assert result.stderr == f"error: {text}: refusing to overwrite an input file\n"
    assert text.read_text().startswith("MTHD_")


@pytest.mark.parametrize(
    "command",
    [
        ("generate", "-o", "missing/../song.mid", "--prime", "song.mid"),
        ("infill", "song.mid", "--bars", "1", "-o", "missing/../song.mid"),
        ("tokenize", "song.txt", "-o", "missing/../song.txt"),  # a MIDI file named .txt
    ],
)
def test_an_output_through_a_missing_folder_and_back_is_still_the_input(
    tmp_path, monkeypatch, command
):
    monkeypatch.chdir(tmp_path)
    name = "song.txt" if command[0] == "tokenize" else "song.mid"
    shutil.copy(SAMPLE, tmp_path / name)
    result = run(*command)
    assert result.exit_code == 1
    assert result.stderr == f"error: missing/../{name}: refusing to overwrite an input file\n"
    assert (tmp_path / name).read_bytes() == SAMPLE.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


def test_a_hard_link_to_the_input_and_a_symlink_loop_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(SAMPLE, tmp_path / "song.mid")
    (tmp_path / "other.mid").hardlink_to(tmp_path / "song.mid")
    result = run("generate", "-o", "other.mid", "--prime", "song.mid")
    assert result.stderr == "error: other.mid: refusing to overwrite an input file\n"
    (tmp_path / "loop.mid").symlink_to("loop.mid")
    result = run("generate", "-o", "loop.mid", "--prime", "song.mid")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: loop.mid: cannot follow its links: ")
    assert (tmp_path / "song.mid").read_bytes() == SAMPLE.read_bytes()


def test_generate_checks_every_output_before_it_writes_one(tmp_path):
    (tmp_path / "y-2.mid").mkdir()
    result = run("generate", "-o", tmp_path / "y.mid", "--num", "3", "--length", "2s")
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'y-2.mid'}: is a folder; name a file to write\n"
    assert [path.name for path in tmp_path.iterdir()] == ["y-2.mid"]
    (tmp_path / "z.png").mkdir()  # a preview that cannot be written stops the work too
    result = run("generate", "-o", tmp_path / "z.mid", "--length", "2s", "--png")
    assert result.stderr == f"error: {tmp_path / 'z.png'}: is a folder; name a file to write\n"
    assert not (tmp_path / "z.mid").exists()
    (tmp_path / "afile").write_text("")
    result = run("generate", "-o", tmp_path / "afile" / "x.mid", "--length", "2s")
    assert result.stderr == f"error: {tmp_path}/afile/x.mid: {tmp_path}/afile is not a folder\n"


def test_bad_token_text_names_the_token(tmp_path):
    text = tmp_path / "bad.txt"
    text.write_text("MTHD_0001_0060\nMTRK 00_90_3C 00_FF2F_\n")
    result = run("detokenize", text, "-o", tmp_path / "bad.mid")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {text}: bad chunk token '00_90_3C'")
    assert result.stderr.endswith("(token 2)\n")
    assert not (tmp_path / "bad.mid").exists()


def test_debug_shows_the_exception(tmp_path):
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    result = run("--debug", "info", empty)
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "NotMidiError"


def test_commands_that_play_a_file_say_what_its_reader_mended(tmp_path):
    """A truncated file plays (as players play it), but not as its writer meant: render
    says so, as info does (infill and generate --prime read their file alike)."""
    cut = tmp_path / "cut.mid"
    cut.write_bytes(SAMPLE.read_bytes()[:-6])
    result = run("render", cut, "-o", tmp_path / "cut.png")
    assert result.exit_code == 0, result.stderr
    assert f"warning: {cut}: track has no End of Track event" in result.stderr
    result = run("render", SAMPLE, "-o", tmp_path / "whole.png")
    assert result.exit_code == 0 and "warning" not in result.stderr
    # and the commands that read one to score or measure it
    result = run("compare", cut, "--reference", SAMPLE)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"warning: {cut}: MTrk declares 47 bytes, only 41 remain (track 0, byte 18) (+2 more)"
    )  # a line a file: a folder may hold many (the next warns that 1 piece has no spread)
    assert len(result.stderr.splitlines()) == 2


def test_info_on_a_folder_without_midi_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no music here")
    result = run("info", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path}: no .mid/.midi/.rmi/.kar/.smf files found\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_stdout_is_one_plain_error_line():
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "midigen", "info", str(SAMPLE)],
            stdout=full, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    assert (done.returncode, done.stderr) == (1, "error: No space left on device\n")


def test_a_ctrl_c_inside_an_atomic_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    """SIGINT while mkstemp has made the file but not yet returned its name: held until the
    write is done, then raised."""
    import os
    import signal
    import tempfile

    from midigen import fileio

    made = tempfile.mkstemp

    def interrupted_mkstemp(*args, **kwargs):
        made_file = made(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: still in here
        return made_file

    monkeypatch.setattr(fileio.tempfile, "mkstemp", interrupted_mkstemp)
    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(tmp_path / "out.txt", "done")
    assert [path.name for path in tmp_path.iterdir()] == ["out.txt"]
    assert (tmp_path / "out.txt").read_text() == "done"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupted_command_says_so_and_exits_130(tmp_path, monkeypatch):
    from midigen.midi import reader

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reader, "read", interrupted)
    result = CliRunner().invoke(main, ["info", str(DATA / "crafted_mixed_running_status.mid")])
    assert result.exit_code == 130
    assert result.stderr == "error: interrupted; no file was left half-written\n"


def test_a_file_whose_ticks_have_no_seconds_is_named_in_the_error(tmp_path):
    track = bytes([0, 0x90, 60, 100, 0x60, 0x80, 60, 0, 0, 0xFF, 0x2F, 0])
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0, 0])  # division 0
    song = tmp_path / "zero.mid"
    song.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + track)
    result = CliRunner().invoke(main, ["tokenize", str(song), "--scheme", "event"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {song}: division is 0 ticks per quarter: times cannot be converted to seconds "
        "(byte 12)\n"
    )


def test_detokenize_names_the_file_whose_tokens_it_skipped(tmp_path):
    text = tmp_path / "odd.txt"
    text.write_text("EVENT_24 SHIFT_999999999 NOTE_60 VEL_10 DUR_24\n")
    result = run("detokenize", text, "-o", tmp_path / "odd.mid")
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: {text}: skipped 'SHIFT_999999999': value out of range (token 1)\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3", "'3' is not LO..HI, e.g. -5..6"),
        ("6..-5", "transposition must be LO..HI with -24 <= LO <= 0 <= HI <= 24"),
    ],
)
def test_a_bad_transposition_is_a_usage_error_naming_the_option(tmp_path, value, message):
    result = run("prepare", DATA, "-o", tmp_path / "data", f"--transpose={value}")
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: Invalid value for --transpose: {message}\n")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--time", "0s", "'0s' is not a positive length of time"),
        ("--time", "-1m", "'-1m' is not a positive length of time"),
        ("--time", "inf", "'inf' is not a positive length of time"),
        ("--time", "abc", "'abc' is not a duration like 90s, 30m or 2h"),
        ("--checkpoint-every", "0s", "'0s' is not a positive length of time"),
    ],
)
def test_a_bad_training_time_is_a_usage_error_naming_the_option(tmp_path, option, value, message):
    result = run("train", DATA, "-o", tmp_path / "model", f"{option}={value}")
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: Invalid value for '{option}': {message}\n")
    assert not (tmp_path / "model").exists()


def test_prepare_warns_when_every_piece_went_to_validation(tmp_path):
    result = run(
        "prepare",
        SAMPLE,
        DATA / "pymidi_mary.mid",
        "-o",
        tmp_path / "d",
        "--valid-fraction",
        "0.99",
    )
    assert result.exit_code == 0
    assert "train 0 pieces" in result.stdout
    assert (
        "warning: the training split is empty: `evaluate` can score this dataset, `train` cannot"
        in result.stderr
    )


def test_tokenize_names_the_file_whose_silence_it_shortened(tmp_path):
    song = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, 60, 0, 0.5), pretty_midi.Note(80, 62, 150, 150.5)]
    song.instruments.append(piano)  # 300 beats apart: past the longest rest tokens keep
    song.write(str(tmp_path / "gap.mid"))
    result = run("tokenize", tmp_path / "gap.mid", "--scheme", "event")
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {tmp_path / 'gap.mid'}: 1 silence of up to")


@pytest.mark.parametrize("scheme", ["chunk", "event"])
def test_tokenize_of_token_text_points_to_detokenize(tmp_path, scheme):
    text = tmp_path / "song.txt"
    text.write_text(run("tokenize", SAMPLE, "--scheme", scheme).stdout)
    result = run("tokenize", text)
    assert result.exit_code == 1
    assert "; it is token text: `midigen detokenize` makes MIDI of it" in result.stderr
    midi = tmp_path / "notes.mid"
    midi.write_text("my notes")  # not token text: no such hint
    assert "token text" not in run("tokenize", midi).stderr
