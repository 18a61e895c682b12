"""Steering: styles learned from folders, key, density, instruments, and their error lines."""

from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
from click.testing import CliRunner

import midigen
from midigen.cli import main
from midigen.data.dataset import PrepareConfig, open_dataset, prepare
from midigen.midi.gm import Instruments
from midigen.midi.keys import (
    ALL_KEYS,
    KEY_SHARE_NOTES,
    Key,
    estimate_key,
    key_share,
    notated_key,
    signature_name,
    with_key_signature,
)
from midigen.model.train import TrainConfig, train
from midigen.tokens.grammar import style_name

DATA = Path(__file__).parent / "data"
PRIME = DATA / "pymidi_mary.mid"
STYLE_FILES = {
    "folk": ["pymidi_mary.mid", "crafted_mixed_running_status.mid"],
    "jazz": ["jazzsoft_test-2-tracks-type-2.mid", "jazzsoft_test-gs-doggy-01-00-7b.mid"],
}


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def styled(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset, model) prepared with --styles from two style folders, trained a little."""
    root = tmp_path_factory.mktemp("styled")
    for style, names in STYLE_FILES.items():
        (root / "corpus" / style).mkdir(parents=True)
        for name in names:
            shutil.copy(DATA / name, root / "corpus" / style / name)
    shutil.copy(DATA / "jazzsoft_test-vlq-4-byte.mid", root / "corpus")  # no style
    prepare([root / "corpus"], root / "data", PrepareConfig(valid_fraction=0, styles=True))
    train(
        root / "data",
        root / "model",
        TrainConfig(steps=40, bptt=16, batch_size=4, lr=0.01, warmup=5),
        {"hidden": 32, "embed": 16},
    )
    return root / "data", root / "model"


def pretty(song: midigen.Song) -> pretty_midi.PrettyMIDI:
    return song.to_pretty_midi()


def test_styles_are_read_from_first_level_folders(styled):
    data, _ = styled
    dataset = open_dataset(data)
    assert dataset.vocab.tokens[-2:] == ["STYLE_folk", "STYLE_jazz"]
    by_file = {Path(f["path"]).name: f.get("style") for f in dataset.meta["files"]}
    assert by_file["pymidi_mary.mid"] == "folk" and by_file["jazzsoft_test-vlq-4-byte.mid"] is None
    ids = dataset.ids("train")
    starts = dataset.pieces("train")[:, 0]
    firsts = {dataset.vocab.tokens[ids[offset + 1]] for offset in starts}
    assert {"STYLE_folk", "STYLE_jazz"} <= firsts


def test_style_tokens_decode_without_complaint():
    decoded = midigen.detokenize(["EVENT_24", "STYLE_folk", "NOTE_60", "VEL_8", "DUR_24"])
    assert not decoded.warnings


def test_generate_in_a_style_and_an_unknown_style_lists_them(styled, tmp_path):
    _, model = styled
    out = tmp_path / "folk.mid"
    result = run(
        "generate", "-m", model, "-o", out, "--style", "folk", "--length", "3s", "--seed", "1"
    )
    assert result.exit_code == 0, result.output
    assert midigen.read(out).tracks
    assert result.stdout.startswith(f"{out}: 3.0 s of folk, ")
    shouted = tmp_path / "FOLK.mid"
    run("generate", "-m", model, "-o", shouted, "--style", "FOLK", "--length", "3s", "--seed", "1")
    assert shouted.read_bytes() == out.read_bytes()  # a style's name in any case
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid", "--style", "polka")
    assert result.exit_code == 2  # a usage error, as click's own
    assert result.stderr.endswith(
        "Error: Invalid value for --style: this model knows no style 'polka'; "
        "its styles: folk, jazz\n"
    )
    assert not (tmp_path / "x.mid").exists()


def test_generate_says_which_style_the_model_drew(styled, tmp_path):
    """Without --style the model may draw one, as its first token: the summary names it,
    so that a musician knows what to ask for to hear more of it.  The shipped model, whose
    every training piece had a style, always draws one; this small one may draw none."""
    shipped = midigen.load_model()
    drawn = shipped.generate_pieces(num=4, length="2s", seed=5)
    assert all(piece.style in shipped.styles for piece in drawn)
    assert [piece.song for piece in drawn] == shipped.generate_batch(num=4, length="2s", seed=5)
    result = run("generate", "-o", tmp_path / "x.mid", "--num", "4", "--length", "2s",
                 "--seed", "5")  # fmt: skip
    assert result.exit_code == 0, result.output
    for k, (line, piece) in enumerate(zip(result.stdout.splitlines(), drawn, strict=True)):
        assert line.startswith(f"{tmp_path / f'x-{k + 1}.mid'}: 2.0 s of {piece.style}, ")
    _, model = styled
    loaded = midigen.load_model(model)
    asked = loaded.generate_pieces(num=2, length="2s", seed=5, style="jazz")
    assert [piece.style for piece in asked] == ["jazz", "jazz"]
    free = loaded.generate_pieces(num=2, length="2s", seed=5)
    assert {piece.style for piece in free} <= {"folk", "jazz", None}


def test_the_model_command_shows_styles_and_size(styled):
    _, model = styled
    result = run("model", model)
    assert result.exit_code == 0
    assert "styles: folk (2 files), jazz (2 files)" in result.output
    assert re.search(r"trained \d+ steps in \d+ s on", result.output)  # a run of seconds
    summary = json.loads(run("model", model, "--json").output)
    assert summary["styles"] == ["folk", "jazz"] and summary["parameters"] > 1000


def test_the_model_command_without_a_folder_shows_the_model_generate_uses(styled, monkeypatch):
    _, model = styled
    monkeypatch.setenv("MIDIGEN_MODEL", str(model))
    result = run("model")
    assert result.exit_code == 0
    assert result.output.startswith(str(model)) and "jazz (2 files)" in result.output


def test_a_midigen_model_that_is_no_model_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDIGEN_MODEL", str(tmp_path / "gone"))
    for command in (["model"], ["generate", "-o", str(tmp_path / "x.mid")]):
        result = run(*command)
        assert result.exit_code == 1
        assert f"$MIDIGEN_MODEL is {tmp_path / 'gone'}: not a model folder" in result.output


def test_the_model_command_gives_two_digits_of_a_small_run(styled):
    _, model = styled
    assert re.search(r"0\.\d*[1-9]\d* M tokens seen", run("model", model).output)


@pytest.mark.parametrize("name", ["F#m", "Eb", "C"])
def test_a_key_keeps_every_pitched_note_in_its_scale(styled, name):
    _, model = styled
    key = Key.parse(name)
    for song in midigen.load_model(model).generate_batch(num=3, length="6s", seed=2, key=name):
        notes = [n for i in pretty(song).instruments if not i.is_drum for n in i.notes]
        assert notes and all(n.pitch % 12 in key.scale for n in notes)


def key_signatures(song: midigen.Song) -> list[list[str]]:
    """Each track's key signatures, as mido names them."""
    midi = mido.MidiFile(file=io.BytesIO(midigen.write(song)))
    return [[m.key for m in track if m.type == "key_signature"] for track in midi.tracks]


def test_generated_music_is_notated_in_its_key(styled):
    _, model = styled
    generate = midigen.load_model(model).generate_batch
    for song in generate(num=3, length="6s", seed=2, key="F#m", drums=False):
        # in the first track, as pretty_midi reads it, and in each track that plays
        # pitched notes, as MuseScore does
        midi = mido.MidiFile(file=io.BytesIO(midigen.write(song)))
        pitched = [any(m.type == "note_on" and m.channel != 9 for m in t) for t in midi.tracks]
        assert key_signatures(song) == [
            ["F#m"] if index == 0 or plays else [] for index, plays in enumerate(pitched)
        ]
        assert sum(pitched) >= 1
        assert [k.key_number for k in pretty(song).key_signature_changes] == [18]  # F#m
    for song in generate(num=3, length="6s", seed=4, drums=False):
        key = notated_key(song)
        assert key is not None
        assert Key.parse(key_signatures(song)[1][0]).sharps == key.sharps
    for song in generate(num=2, length="6s", seed=3, instruments="drums"):
        assert notated_key(song) is None and not any(key_signatures(song))


def test_a_key_signature_has_the_sharps_or_flats_of_its_key():
    mary = midigen.read(PRIME)  # Mary had a little lamb, in C, with its key signature
    assert key_signatures(mary) == [["C"], []]
    unsigned = [
        midigen.Track(row for row in track.rows if row[2][:1] != b"\x59" or row[1] != 0xFF)
        for track in mary.tracks
    ]
    song = replace(mary, tracks=unsigned)
    assert not any(key_signatures(song)) and notated_key(song) == Key.parse("Em")
    for key in ALL_KEYS:  # mido reads the bytes back as the same key, spelt its way
        written = key_signatures(with_key_signature(song, key))
        assert {name for names in written for name in names} == {written[0][0]}
        assert Key.parse(written[0][0]) == key
        assert Key.parse(key.full_name) == key  # named as its signature spells it
        assert key.full_name == signature_name(key.sharps, key.minor)
    assert Key.parse("F#").sharps == 6 and Key.parse("Gb").sharps == 6  # one spelling
    assert [Key.parse(name).full_name for name in ("Db", "C#", "D#m", "Ebm", "Bbm")] == [
        "Db major", "Db major", "D# minor", "D# minor", "Bb minor"]  # fmt: skip
    assert signature_name(-7, False) == "Cb major" and signature_name(7, True) == "A# minor"
    assert Key.parse("Bbm").sharps == -5 and Key.parse("Dm").sharps == -1
    assert with_key_signature(mary, Key.parse("Eb")) == mary  # its own is kept


def test_a_key_signature_leaves_the_fewest_notes_with_accidentals():
    # a C major triad over and over, and the rest of F major's scale, B flat included
    counts = {0: 10, 4: 10, 7: 10, 9: 3, 2: 3, 5: 3, 10: 3}
    weights = [counts.get(pitch_class, 0) for pitch_class in range(12)]
    assert estimate_key(weights) == Key.parse("C")  # whose scale has no B flat
    rows = [(0, 0xFF, b"/", False)]
    for pitch_class, times in counts.items():
        for _ in range(times):
            rows[-1:-1] = [(0, 0x90, bytes((60 + pitch_class, 80)), False)]
            rows[-1:-1] = [(240, 0x80, bytes((60 + pitch_class, 0)), False)]
    song = midigen.Song(tracks=[midigen.Track(rows)])
    assert notated_key(song).sharps == -1  # F major or D minor: every note in its scale


def test_instruments_never_play_another_program(styled):
    _, model = styled
    asked = Instruments.parse("flute,drums")
    for song in midigen.load_model(model).generate_batch(
        num=3, length="6s", seed=3, instruments=asked
    ):
        for instrument in pretty(song).instruments:
            assert instrument.is_drum or instrument.program == 73
    for song in midigen.load_model(model).generate_batch(num=3, length="6s", seed=3, drums=False):
        assert not any(i.is_drum for i in pretty(song).instruments)


def test_a_continuation_keeps_its_primes_instruments_and_tempo(styled):
    _, model = styled
    loaded = midigen.load_model(model)
    prime = pretty_midi.PrettyMIDI(str(PRIME))
    programs = {(i.is_drum, i.program) for i in prime.instruments}
    for song in loaded.generate_batch(num=3, length="8s", seed=4, prime=PRIME, prime_seconds=2):
        midi = pretty(song)
        assert {(i.is_drum, i.program) for i in midi.instruments} <= programs
        assert set(midi.get_tempo_changes()[1].round(3)) == set(
            prime.get_tempo_changes()[1].round(3)
        )


def test_density_orders_notes_per_second(styled):
    _, model = styled
    loaded = midigen.load_model(model)

    def rate(density: str) -> float:
        songs = loaded.generate_batch(num=4, length="10s", seed=5, density=density)
        return float(
            np.median(
                [len([n for i in pretty(s).instruments for n in i.notes]) / 10 for s in songs]
            )
        )

    assert rate("low") < rate("high")


def test_an_asked_density_holds_for_the_continuation_of_a_denser_prime(tmp_path):
    """The prime plays 8 notes a second; a continuation asked for 2.5 plays about that,
    where measuring the prime too had kept it silent to its end."""
    dense = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    for step in range(64):
        pitch = 60 + (0, 4, 7, 12)[step % 4]
        piano.notes.append(pretty_midi.Note(80, pitch, step / 8, step / 8 + 0.12))
    dense.instruments.append(piano)
    dense.write(str(tmp_path / "dense.mid"))
    out = tmp_path / "out.mid"
    args = ("--prime", tmp_path / "dense.mid", "--length", "28s", "--density", "2.5")
    result = run("generate", "-o", out, *args, "--seed", "1")
    assert result.exit_code == 0, result.output
    played = [n for i in pretty_midi.PrettyMIDI(str(out)).instruments for n in i.notes]
    rate = len([n for n in played if n.start >= 8.0]) / 20
    assert 1.5 < rate < 4.0


def test_a_keys_triad_is_its_tonic_third_and_fifth():
    assert Key.parse("C").triad == (0, 4, 7)
    assert Key.parse("F#m").triad == (6, 9, 1)


def test_key_estimation_finds_a_scale_played_with_its_tonic_chord():
    weights = [0.0] * 12
    for pitch_class, seconds in [(9, 4), (0, 2), (4, 3), (2, 1), (5, 1), (7, 1), (11, 1)]:
        weights[pitch_class] = seconds
    assert estimate_key(weights) == Key.parse("Am")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--key", "H", "key 'H' is not like C, F#, Bb, Am or C#m\n"),
        ("--density", "0", "density must be more than 0 and at most 64 notes per second\n"),
        ("--density", "busy",
         "density 'busy' is not low, medium, high or a number of notes per second\n"),
        ("--key", "", "key '' is not like C, F#, Bb, Am or C#m\n"),
        ("--instruments", "kazoo",
         "'kazoo' is not a General MIDI instrument; did you mean koto, agogo, bassoon?\n"),
        ("--instruments", "", "name at least one instrument\n"),
        ("--instruments", ("drums", "--no-drums"),
         "drums are the only instruments named, and --no-drums takes them away\n"),
    ],
)  # fmt: skip
def test_bad_steering_is_a_usage_error_and_writes_nothing(styled, tmp_path, option, value, message):
    _, model = styled
    out = tmp_path / "x.mid"
    values = value if isinstance(value, tuple) else (value,)  # the option's value, then others
    result = run("generate", "-m", model, "-o", out, option, *values, "--seed", "1")
    assert result.exit_code == 2  # a usage error, as click's own
    assert result.stderr.endswith(f"Error: Invalid value for {option}: {message}")
    assert not out.exists()


def note_list(data: bytes) -> list[tuple]:
    midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    return sorted(
        (n.start, n.end, n.pitch, n.velocity, i.program, i.is_drum)
        for i in midi.instruments
        for n in i.notes
    )


@pytest.mark.parametrize(("option", "span"), [("--bars", "3-4"), ("--seconds", "4-8")])
def test_infill_keeps_everything_outside_the_span(styled, tmp_path, option, span):
    _, model = styled
    song = PRIME
    out = tmp_path / "new.mid"
    result = run("infill", song, option, span, "-o", out, "-m", model, "--seed", "4")
    assert result.exit_code == 0, result.output
    original = pretty_midi.PrettyMIDI(str(song))
    if option == "--bars":
        first, last = original.get_downbeats()[2], original.get_downbeats()[4]
    else:
        first, last = 4.0, 8.0
    before, after = note_list(song.read_bytes()), note_list(out.read_bytes())

    def outside(notes):
        return [n for n in notes if not first - 1e-6 <= n[0] < last - 1e-6]

    def inside(notes):
        return [n for n in notes if first - 1e-6 <= n[0] < last - 1e-6]

    assert outside(after) == outside(before)
    assert inside(after) != inside(before)
    written = pretty_midi.PrettyMIDI(str(out))
    assert np.array_equal(written.get_tempo_changes()[1], original.get_tempo_changes()[1])
    assert [(s.numerator, s.denominator, s.time) for s in written.time_signature_changes] == [
        (s.numerator, s.denominator, s.time) for s in original.time_signature_changes
    ]


def piano_song(notes: list[tuple[int, int, float]]) -> midigen.Song:
    """(velocity, pitch, start) notes of a quarter second, at 120 bpm in 4/4."""
    song = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(v, p, t, t + 0.25) for v, p, t in notes]
    song.instruments.append(piano)
    data = io.BytesIO()
    song.write(data)
    return midigen.read(data.getvalue())


def test_infill_aims_at_the_music_on_both_sides_of_its_span():
    """Bars 5-8 between four soft, low bars and four loud, high, busier ones: the
    candidates aim at both sides' notes together, not at the prompt's, nor at the notes
    they replace; a song with too few notes around the span is measured whole."""
    from midigen.model.infill import Span, _located, around, music_around
    from midigen.model.sample import MEAN_VELOCITY
    from midigen.tokens.grammar import velocity_bin

    before = [(30, 48, beat * 0.5) for beat in range(16)]  # bars 1-4, a note a beat
    span = [(127, 100, beat * 0.5) for beat in range(16, 32)]
    after = [(100, 72, 16.0 + eighth * 0.25) for eighth in range(32)]  # bars 9-12, 8ths
    tokens, _, start, stop = _located(piano_song(before + span + after), Span(5, 8, "bars"))
    aims = around(music_around(tokens, start, stop))
    mean = (16 * 48 + 32 * 72) / 48
    assert aims["mean_pitch"] == pytest.approx(mean)
    assert aims["reach_below"] == pytest.approx(mean - 48)
    assert aims["reach_above"] == pytest.approx(72 - mean)
    assert aims["notes_per_second"] == pytest.approx(48 / 16)
    assert aims["notes_per_onset"] == 1.0
    loudness = (16 * velocity_bin(30) + 32 * velocity_bin(100)) / 48
    assert aims[MEAN_VELOCITY] == pytest.approx(loudness)
    # 4 notes on each side: too few, so the whole song but the span, which ends 0.25 s
    # after the last of 16 more notes in bars 13-16
    later = [(100, 72, 16.0 + bar * 2.0) for bar in range(4)]
    later += [(100, 72, 24.0 + beat * 0.5) for beat in range(16)]
    tokens, _, start, stop = _located(piano_song(before[:4] + span + later), Span(5, 8, "bars"))
    aims = around(music_around(tokens, start, stop))
    assert aims["notes_per_second"] == pytest.approx(24 / (8 + 15.75))
    tokens, _, start, stop = _located(piano_song(before[:4] + span), Span(5, 8, "bars"))
    assert around(music_around(tokens, start, stop)) == {}


def test_infill_keeps_the_key_of_the_music_on_both_sides_of_its_span():
    """Bars 1-4 and 9-12 in D minor around bars 5-8 in Db major: the candidates keep D
    minor's scale (candidates free of any key had put a pop-punk song's bars 9-12, 100%
    in D minor, in Db major)."""
    from midigen.model.infill import Span, _located, key_around, music_around

    d_minor = [62, 64, 65, 67, 69, 70, 72, 74]
    d_flat = [61, 63, 65, 66, 68, 70, 72, 73]
    before = [(80, d_minor[beat % 8], beat * 0.5) for beat in range(16)]
    span = [(80, d_flat[beat % 8], beat * 0.5) for beat in range(16, 32)]
    after = [(80, d_minor[beat % 8], beat * 0.5) for beat in range(32, 48)]
    tokens, _, start, stop = _located(piano_song(before + span + after), Span(5, 8, "bars"))
    assert key_around(music_around(tokens, start, stop)).scale == Key.parse("Dm").scale


def test_infill_puts_each_new_note_in_the_track_of_its_register(tmp_path):
    """A melody and an accompaniment on one program (as POP909 has them): a high new note
    joins the melody's track, a low one the accompaniment's, none a new track."""
    from midigen.model.infill import _edited
    from midigen.tokens.grammar import STEPS_PER_BEAT, Note

    song = pretty_midi.PrettyMIDI(initial_tempo=120)
    for name, pitches in (("melody", (72, 74, 76, 77)), ("piano", (48, 52, 55, 43))):
        track = pretty_midi.Instrument(program=0, name=name)
        track.notes = [pretty_midi.Note(80, p, t, t + 0.5) for t in range(8) for p in pitches[:1]]
        track.notes += [pretty_midi.Note(80, p, 0.5, 1) for p in pitches[1:]]
        song.instruments.append(track)
    song.write(str(tmp_path / "two.mid"))
    beat = STEPS_PER_BEAT
    new = [Note(8 * beat, beat, 79, 80, 0), Note(8 * beat, beat, 45, 80, 0)]
    edited = _edited(midigen.read((tmp_path / "two.mid").read_bytes()), 8 * beat, 9 * beat, new)
    tracks = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(edited))).instruments
    assert [t.name for t in tracks] == ["melody", "piano"]
    added = [[n.pitch for n in t.notes if n.start == 4.0] for t in tracks]
    assert added == [[79], [45]]


def test_a_new_note_on_top_joins_the_melody_that_shares_the_accompaniments_keys():
    """POP909's melody and piano share their keys (here the piano plays 50-70 in chords,
    twice as many notes, the melody 58-62 above them): by the keys alone every new note
    went to the piano; the top note of a new chord goes to the melody, the others stay."""
    from midigen.model.parts import Part, likeliest, song_parts, top_notes
    from midigen.tokens.grammar import Note

    melody = [(beat * 96, 58 + beat % 5) for beat in range(16)]
    piano = [(beat * 96, key) for beat in range(16) for key in (50 + beat % 3, 54, 57 - beat % 2)]
    piano += [(beat * 96 + 48, 60 + beat % 11) for beat in range(16)]  # a top line of its own
    rows = {0: melody, 1: piano}
    tracks = [
        midigen.Track(
            [(0, 0x90, bytes((key, 80)), False) for _, key in sorted(notes)][:1]
            + [(at - prev, 0x90, bytes((key, 80)), False)
               for (prev, _), (at, key) in zip(sorted(notes), sorted(notes)[1:], strict=False)]
            + [(0, 0xFF, b"/", False)]
        )
        for notes in rows.values()
    ]  # fmt: skip
    parts: list[Part] = song_parts(tracks)[0]
    assert [part.track for part in parts] == [0, 1]
    assert parts[0].tops > 0.8 * len(parts[0].pitches) > parts[1].tops / 4
    chord = [Note(0, 12, key, 80, 0) for key in (61, 57, 53)]
    tops = top_notes(chord)
    assert tops == [True, False, False]
    placed = [
        parts[likeliest(parts, n.pitch, top)].track for n, top in zip(chord, tops, strict=True)
    ]
    assert placed == [0, 1, 1]


def test_infill_never_strikes_a_key_another_track_holds_on_its_channel(tmp_path):
    """Both hands on channel 1: a new note for the right hand on a key the left hand
    holds would be cut off by (or cut off) the held one, so it is left out."""
    from midigen.model.infill import _edited
    from midigen.tokens.grammar import STEPS_PER_BEAT, Note

    song = mido.MidiFile(ticks_per_beat=480)
    for name, notes in (
        ("right", [(b, 74 + b % 4, 240) for b in range(8)]),
        ("left", [(0, 72, 3840), *((b, 36 + b % 3, 240) for b in range(8))]),
    ):
        events = sorted(
            [(b * 480, 1, k) for b, k, _ in notes]
            + [(b * 480 + length, 0, k) for b, k, length in notes]
        )
        track, now = mido.MidiTrack([mido.MetaMessage("track_name", name=name)]), 0
        for at, on, key in events:
            track.append(mido.Message("note_on", note=key, velocity=80 * on, time=at - now))
            now = at
        song.tracks.append(track)
    song.save(str(tmp_path / "hands.mid"))
    beat = STEPS_PER_BEAT
    new = [Note(4 * beat, beat, 72, 80, 0), Note(4 * beat, beat, 77, 80, 0)]
    edited = _edited(midigen.read((tmp_path / "hands.mid").read_bytes()), 4 * beat, 5 * beat, new)
    starts = [
        (n.pitch, n.start)
        for i in pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(edited))).instruments
        for n in i.notes
    ]
    assert (77, 2.0) in starts and (72, 2.0) not in starts


def test_infill_ends_a_new_note_a_tick_before_another_tracks_note_of_its_key(tmp_path):
    """Both hands on channel 1, the right hand's track after the left's: a new right-hand
    note that runs into the left hand's next 60 ended on its tick, where players take the
    left hand's note-on first, and the note-off then ended the kept note at once."""
    from midigen.model.infill import _edited
    from midigen.tokens.grammar import STEPS_PER_BEAT, Note

    song = mido.MidiFile(ticks_per_beat=480)
    for keys in ([36, 60], [58, 62]):  # left, then right
        track = mido.MidiTrack()
        for beat, key in enumerate(keys):
            track.append(
                mido.Message("note_on", note=key, velocity=80, time=0 if beat else 4 * 480)
            )
            track.append(mido.Message("note_off", note=key, time=480))
        song.tracks.append(track)
    song.save(str(tmp_path / "hands.mid"))
    beat = STEPS_PER_BEAT
    new = [Note(2 * beat, 4 * beat, 60, 80, 0)]  # from beat 2 into the left hand's 60 at 5
    edited = _edited(midigen.read((tmp_path / "hands.mid").read_bytes()), 2 * beat, 3 * beat, new)
    merged = mido.merge_tracks(mido.MidiFile(file=io.BytesIO(midigen.write(edited))).tracks)
    now, sixty = 0, []
    for message in merged:
        now += message.time
        if message.type in ("note_on", "note_off") and message.note == 60:
            sixty.append((now, message.type == "note_on" and message.velocity > 0))
    assert sixty == [(960, True), (2399, False), (2400, True), (2880, False)]


def test_infill_gives_a_new_instrument_no_channel_a_part_of_the_span_plays(tmp_path):
    """A second piano part on channel 2 plays only inside the span: once its notes were
    taken out, a new violin took channel 2 too, and the piano's new note sounded as a
    violin."""
    from midigen.model.infill import _edited
    from midigen.tokens.grammar import STEPS_PER_BEAT, Note

    song = mido.MidiFile(ticks_per_beat=480)
    for channel, beats in ((0, (0, 1, 6, 7)), (1, (2, 3))):
        track, now = mido.MidiTrack(), 0
        for beat in beats:
            key = 72 if channel == 0 else 48
            track.append(
                mido.Message(
                    "note_on", channel=channel, note=key, velocity=80, time=beat * 480 - now
                )
            )
            track.append(mido.Message("note_off", channel=channel, note=key, time=480))
            now = beat * 480 + 480
        song.tracks.append(track)
    song.save(str(tmp_path / "parts.mid"))
    beat = STEPS_PER_BEAT
    new = [Note(2 * beat, beat, 48, 80, 0), Note(2 * beat, beat, 76, 80, 40)]
    edited = _edited(midigen.read((tmp_path / "parts.mid").read_bytes()), 2 * beat, 4 * beat, new)
    channels = {
        instrument.program: {
            message.channel
            for track in mido.MidiFile(file=io.BytesIO(midigen.write(edited))).tracks
            for message in track
            if message.type == "note_on" and message.note == (48 if instrument.program == 0 else 76)
        }
        for instrument in pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(edited))).instruments
        if instrument.program in (0, 40)
    }
    assert channels[0] == {1} and channels[40] == {2}


def test_infill_keeps_a_note_struck_again_across_the_span_as_every_reader_hears_it(tmp_path):
    """Key 72 struck inside the span and again after it, then two note-offs: the first
    silences the key (pretty_midi, and a synth, end both notes there), so it stays when
    the note inside goes; and a new note that ends where a kept one of its key starts
    is let go before the kept one strikes."""
    from midigen.model.infill import _edited
    from midigen.tokens.grammar import STEPS_PER_BEAT, Note

    events = [(0, "note_on", 64), (480, "note_off", 64), (2000, "note_on", 60),
              (2200, "note_off", 60), (3600, "note_on", 72), (3840, "note_on", 67),
              (3900, "note_on", 72), (4000, "note_off", 72), (4100, "note_off", 67),
              (4400, "note_off", 72)]  # fmt: skip
    track, now = mido.MidiTrack(), 0
    for at, kind, key in events:
        track.append(mido.Message(kind, note=key, velocity=80 if kind == "note_on" else 0,
                                  time=at - now))  # fmt: skip
        now = at
    song = mido.MidiFile(ticks_per_beat=480, tracks=[track])
    song.save(str(tmp_path / "again.mid"))
    beat = STEPS_PER_BEAT  # 20 ticks a step: the span is ticks 1920-3840
    new = [Note(7 * beat + beat // 2, beat // 2, 67, 90, 0)]  # ticks 3600-3840, key 67
    edited = midigen.write(
        _edited(midigen.read((tmp_path / "again.mid").read_bytes()), 4 * beat, 8 * beat, new)
    )
    midi = pretty_midi.PrettyMIDI(io.BytesIO(edited))
    ticks = sorted(
        (n.pitch, midi.time_to_tick(n.start), midi.time_to_tick(n.end), n.velocity)
        for n in midi.instruments[0].notes
    )
    assert ticks == [(64, 0, 480, 80), (67, 3600, 3840, 90), (67, 3840, 4100, 80),
                     (72, 3900, 4000, 80)]  # fmt: skip
    at, order = 0, []
    for message in mido.MidiFile(file=io.BytesIO(edited)).tracks[0]:
        at += message.time
        if at == 3840 and message.type in ("note_on", "note_off"):
            order.append((message.type, message.velocity))
    assert order == [("note_off", 0), ("note_on", 80)]  # the new note lets go first


def test_infill_takes_a_doubled_hit_away_whole(tmp_path):
    """Key 36 struck twice and released twice inside the span (on, on, off, off): the
    first note-off ends both notes, and the second, which a player pairs with the second
    strike, goes too; left alone in the output it cut a new note of that key short."""
    from midigen.model.infill import _edited
    from midigen.tokens.grammar import DRUMS, STEPS_PER_BEAT, Note

    events = [(0, "note_on", 64), (480, "note_off", 64), (2000, "note_on", 36),
              (2010, "note_on", 36), (2100, "note_off", 36), (2110, "note_off", 36)]  # fmt: skip
    track, now = mido.MidiTrack(), 0
    for at, kind, key in events:
        velocity = 100 if kind == "note_on" else 0
        track.append(mido.Message(kind, channel=9, note=key, velocity=velocity, time=at - now))
        now = at
    mido.MidiFile(ticks_per_beat=480, tracks=[track]).save(str(tmp_path / "doubled.mid"))
    beat = STEPS_PER_BEAT  # 20 ticks a step: the span is ticks 1920-3840
    new = [Note(4 * beat + 6, 18, 36, 90, DRUMS)]  # ticks 2040-2400
    edited = midigen.write(
        _edited(midigen.read((tmp_path / "doubled.mid").read_bytes()), 4 * beat, 8 * beat, new)
    )
    midi = pretty_midi.PrettyMIDI(io.BytesIO(edited))
    ticks = sorted(
        (n.pitch, midi.time_to_tick(n.start), midi.time_to_tick(n.end))
        for n in midi.instruments[0].notes
    )
    assert ticks == [(36, 2040, 2400), (64, 0, 480)]
    offs = [m for m in mido.MidiFile(file=io.BytesIO(edited)).tracks[0] if m.type == "note_off"]
    assert [m.note for m in offs] == [64, 36]  # one note-off a note


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        # not a span at all: a usage error, as click's own
        (["--bars", "8-5"], 2, "--bars: span '8-5' runs backwards or is empty\n"),
        (["--bars", "0-2"], 2, "--bars: bars '0-2': bars are whole numbers from 1\n"),
        (["--seconds", "x"], 2, "--seconds: span 'x' is not like 5-8\n"),
        (["--seconds", "nan-5"], 2, "--seconds: span 'nan-5' is not like 5-8\n"),
        # a span, but not of this song: one error line naming it
        (["--bars", "40-41"], 1,
         "error: {song}: the song has 10 bars; bars 40-41 run past its end\n"),
    ],
)  # fmt: skip
def test_bad_infill_spans_are_refused_before_any_work(styled, tmp_path, args, code, message):
    _, model = styled
    out = tmp_path / "new.mid"
    song = PRIME
    result = run("infill", song, *args, "-o", out, "-m", model)
    assert result.exit_code == code
    if code == 2:
        assert result.stderr.endswith(f"Error: Invalid value for {message}")
    else:
        assert result.stderr == message.format(song=song)
    assert not out.exists()


@pytest.mark.parametrize(
    ("span", "message"),
    [
        (("--bars", "1-1"), "the song has 0 bars; bars 1-1 run past its end"),
        (("--seconds", "0-2"), "the song ends at 0.0 s; 0-2 s runs past it"),
    ],
)
def test_a_silent_song_has_no_span_to_infill(styled, tmp_path, span, message):
    _, model = styled
    silent, out = tmp_path / "silent.mid", tmp_path / "new.mid"
    silent.write_bytes(
        midigen.write(midigen.Song(tracks=[midigen.Track([(0, 0xFF, b"/", False)])]))
    )
    result = run("infill", silent, *span, "-o", out, "-m", model)
    assert (result.exit_code, result.stderr) == (1, f"error: {silent}: {message}\n")
    assert not out.exists()


@pytest.mark.parametrize("span", [("--bars", "3-4"), ("--seconds", "4-8")])
def test_infill_fills_the_empty_bars_before_the_songs_end(styled, tmp_path, span):
    """Bars 3-4 hold no note but last to the End of Track (a musician left them to fill):
    they are the song's; before, "the song has 2 bars"."""
    _, model = styled
    midi = mido.MidiFile(ticks_per_beat=96)
    track = midi.add_track()
    for k in range(8):  # quarter notes through bars 1-2, at 120 bpm: 0-4 s
        track.append(mido.Message("note_on", note=60 + k, velocity=80))
        track.append(mido.Message("note_off", note=60 + k, time=96))
    track.append(mido.MetaMessage("end_of_track", time=8 * 96))  # bars 3-4: 4-8 s
    midi.save(tmp_path / "half.mid")
    out = tmp_path / "new.mid"
    result = run("infill", tmp_path / "half.mid", *span, "-o", out, "-m", model, "--seed", "1")
    assert result.exit_code == 0, result.stderr
    before = pretty_midi.PrettyMIDI(str(tmp_path / "half.mid")).instruments[0].notes
    after = [n for i in pretty_midi.PrettyMIDI(str(out)).instruments for n in i.notes]
    kept = [n for n in after if n.start < 4 - 1e-6]
    assert [(n.pitch, n.start, n.end) for n in kept] == [(n.pitch, n.start, n.end) for n in before]
    assert all(4 - 1e-6 <= n.start < 8 and n.end <= 8 + 1e-6 for n in after if n not in kept)


def test_infill_reaches_no_further_past_the_music_than_the_longest_silence(styled, tmp_path):
    """A beat of music whose End of Track comes years on (a broken delta): a span may reach
    64 bars past the music, as the tokens' longest silence, not hours of sampling."""
    _, model = styled
    far = tmp_path / "far.mid"
    track = bytes([0, 0x90, 60, 100, 0x60, 0x80, 60, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0x2F, 0])
    far.write_bytes(
        b"MThd" + bytes([0, 0, 0, 6, 0, 0, 0, 1, 0, 96])
        + b"MTrk" + len(track).to_bytes(4, "big") + track
    )  # fmt: skip
    out = tmp_path / "new.mid"
    result = run("infill", far, "--seconds", "2-1000000", "-o", out, "-m", model)
    assert result.stderr == f"error: {far}: the song ends at 128.5 s; 2-1000000 s runs past it\n"
    result = run("infill", far, "--bars", "60-70", "-o", out, "-m", model)
    assert result.stderr == f"error: {far}: the song has 65 bars; bars 60-70 run past its end\n"
    assert run("infill", far, "--bars", "64-65", "-o", out, "-m", model).exit_code == 0


def test_infill_of_a_last_bar_cut_short_keeps_the_songs_end(styled, tmp_path):
    """The song ends half-way through bar 3 (5 s at 120 bpm): regenerating bars 2-3 fills
    no more than the half bar, and the song still ends at 5 s (it had grown to 6)."""
    _, model = styled
    midi = mido.MidiFile(ticks_per_beat=96)
    track = midi.add_track()
    for k in range(10):
        track.append(mido.Message("note_on", note=60 + k % 5, velocity=80))
        track.append(mido.Message("note_off", note=60 + k % 5, time=96))
    track.append(mido.MetaMessage("end_of_track"))
    midi.save(tmp_path / "short.mid")
    out = tmp_path / "new.mid"
    result = run("infill", tmp_path / "short.mid", "--bars", "2-3", "-o", out, "-m", model,
                 "--seed", "1")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    from midigen.views.summary import duration

    assert duration(midigen.read(out)) == pytest.approx(5.0)
    ends = [n.end for i in pretty_midi.PrettyMIDI(str(out)).instruments for n in i.notes]
    assert max(ends) <= 5.0 + 1e-6


def test_infill_takes_one_span(styled, tmp_path):
    _, model = styled
    args = ("--bars", "1-2", "--seconds", "1-2", "-o", tmp_path / "new.mid", "-m", model)
    result = run("infill", PRIME, *args)
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: give the span with --bars A-B or --seconds A-B, not both\n"
    )


def test_infill_refuses_to_overwrite_its_song_before_it_samples(styled, tmp_path):
    _, model = styled
    song = tmp_path / "song.mid"
    song.write_bytes(Path(PRIME).read_bytes())
    result = run("infill", song, "--bars", "1-2", "-o", song, "-m", model)
    assert result.exit_code == 1
    assert result.stderr == f"error: {song}: refusing to overwrite an input file\n"  # no seed
    assert song.read_bytes() == Path(PRIME).read_bytes()


def test_two_folders_that_would_be_one_style_are_refused(tmp_path):
    for folder in ("a b", "a-b"):
        (tmp_path / "corpus" / folder).mkdir(parents=True)
        shutil.copy(PRIME, tmp_path / "corpus" / folder)
    with pytest.raises(midigen.MidiError, match="folders 'a b' and 'a-b' would both be style a-b"):
        prepare([tmp_path / "corpus"], tmp_path / "data", PrepareConfig(styles=True))
    assert not (tmp_path / "data").exists()


def test_a_style_is_asked_for_as_its_folder_is_named(styled):
    assert style_name("clas sical") == style_name(" clas  sical ") == "clas-sical"
    assert midigen.load_model(styled[1]).style_token(" Folk ") == "STYLE_folk"


def test_infill_needs_a_model_of_event_tokens(tmp_path):
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "cat.txt").write_text("the cat sat on the mat\n" * 20)
    config = TrainConfig(steps=2, bptt=8, batch_size=2, warmup=1)
    train(tmp_path / "words", tmp_path / "model", config, {"hidden": 8, "embed": 4})
    out = tmp_path / "new.mid"
    result = run("infill", PRIME, "--bars", "1-2", "-o", out, "-m", tmp_path / "model")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'model'}: this model reads text tokens; "
        "infill needs an event-scheme model\n"
    )
    assert not out.exists()


def test_a_key_share_is_the_share_of_the_opening_notes_in_their_best_scale():
    a_minor = [57, 59, 60, 62, 64, 65, 67]  # the notes of C major
    assert key_share(a_minor * 3) == 1.0
    # seven F#s: the best scale is now G major, which holds all but the three Fs
    assert key_share(a_minor * 3 + [66] * 7) == 25 / 28
    assert key_share(a_minor[:5] * 3) is None  # 15 notes say little about a key
    opening = a_minor * (KEY_SHARE_NOTES // 7 + 1)
    assert key_share(opening[:KEY_SHARE_NOTES] + [61] * 50) == 1.0  # later notes do not count


@pytest.mark.parametrize(("span", "steps"), [("8.26-9.5", (397, 456)), ("8.25-9.49", (396, 456))])
def test_an_infill_span_in_seconds_starts_at_the_first_step_in_it(span, steps):
    # an 8th note every 0.25 s at 120 bpm (12 steps): 8.26 s lies past the note at
    # 8.25 s (step 396), which the grid's nearest step had taken into the span
    from midigen.model.infill import Span, _located

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, 60 + k % 7, k / 4, k / 4 + 0.2) for k in range(48)]
    midi.instruments.append(piano)
    data = io.BytesIO()
    midi.write(data)
    song = midigen.read(data.getvalue())
    assert _located(song, Span.parse(span, "seconds"), bars=True)[2:] == steps


def test_infill_keeps_an_smpte_time_base_and_everything_outside_the_span(styled, tmp_path):
    # it had refused: "infill needs a time base in ticks per quarter note"
    from midigen.views.notes import song_notes

    _, model = styled
    smpte = replace(midigen.read(PRIME), division=(256 - 25) << 8 | 40)  # 25 fps x 40 ticks
    (tmp_path / "smpte.mid").write_bytes(midigen.write(smpte))
    out = tmp_path / "new.mid"
    result = run("infill", tmp_path / "smpte.mid", "--seconds", "2-4", "-o", out, "-m", model,
                 "--seed", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    written = midigen.read(out)
    assert written.smpte == (25, 40)
    before, after = song_notes(smpte), song_notes(written)

    def outside(notes):
        return [n for n in notes if not 2 - 1e-6 <= n.start < 4 - 1e-6]

    assert outside(after) == outside(before) and len(outside(before)) > 10
    assert after != before
