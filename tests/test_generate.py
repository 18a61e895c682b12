"""Generation, rendering and compare: every note ends, seeds reproduce, primes stay."""

from __future__ import annotations

import io
import json
import shutil
import wave
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
from click.testing import CliRunner

import midigen
from midigen.cli import main
from midigen.data.dataset import PrepareConfig, prepare
from midigen.data.openings import BOUNDS
from midigen.midi.keys import Key
from midigen.midi.song import timed_rows
from midigen.midi.vlq import encode_vlq
from midigen.model.sample import Length, Sampling, sample_tokens
from midigen.model.train import TrainConfig, train
from midigen.tokens.event import event_tokens_to_song
from midigen.views.notes import song_notes

DATA = Path(__file__).parent / "data"
PRIME = DATA / "pymidi_mary.mid"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("model")
    midi = sorted(p for p in DATA.glob("*.mid") if "smpte" not in p.name)
    prepare(midi, root / "data", PrepareConfig(valid_fraction=0.3))
    train(
        root / "data",
        root / "model",
        TrainConfig(steps=30, bptt=16, batch_size=4, lr=0.01, warmup=5),
        {"hidden": 32, "embed": 16},
    )
    return root / "model"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_every_note_ends(data: bytes) -> None:
    song = midigen.read(data, strict=True)
    sounding: dict[tuple[int, int], int] = {}
    for track in song.tracks:
        for event in track:
            if event.is_note_on or event.is_note_off:
                key = (event.channel, event.data[0])
                sounding[key] = sounding.get(key, 0) + (1 if event.is_note_on else -1)
    assert all(count == 0 for count in sounding.values())
    mido.MidiFile(file=io.BytesIO(data))
    pretty_midi.PrettyMIDI(io.BytesIO(data))


@pytest.mark.parametrize("temperature", [0.05, 1.0, 8.0])
def test_every_note_ends_at_any_temperature(model, temperature):
    songs = midigen.load_model(model).generate_batch(
        num=3, length="8s", sampling=Sampling(temperature=temperature), seed=3
    )
    for song in songs:
        assert_every_note_ends(midigen.write(song))
        assert song.format == 1 and song.tracks[0].name == "midigen"


def test_random_weights_still_give_playable_files(model):
    loaded = midigen.load_model(model)
    generator = np.random.default_rng(0)
    for name, weights in loaded.weights.items():
        loaded.weights[name] = generator.normal(0, 3.0, weights.shape).astype(np.float32)
    for song in loaded.generate_batch(num=4, length="200tokens", seed=11):
        assert_every_note_ends(midigen.write(song))
        assert song.format == 1 and song.tracks[0].name == "midigen"


def test_drums_are_on_channel_ten_and_parts_are_named(model):
    song = midigen.load_model(model).generate(
        length="20s", seed=5, sampling=Sampling(temperature=1.5)
    )
    for track in song.tracks[1:]:
        channels = {event.channel for event in track if event.channel is not None}
        assert track.name
        if track.name.startswith("Drums"):
            assert channels == {9}
        else:
            assert 9 not in channels
            assert any(event.status & 0xF0 == 0xC0 for event in track)


def test_same_seed_same_bytes(model, tmp_path):
    for name in ("a.mid", "b.mid", "c.mid"):
        seed = 7 if name != "c.mid" else 8
        result = run(
            "generate", "-m", model, "-o", tmp_path / name, "--length", "10s", "--seed", seed
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert (tmp_path / "a.mid").read_bytes() != (tmp_path / "c.mid").read_bytes()


def test_velocities_are_those_the_training_data_played(model, tmp_path):
    table = json.loads((model / "config.json").read_text())["data"]["velocities"]
    assert len(table) == 16 and table != [b * 8 + 4 for b in range(16)]
    song = midigen.load_model(model).generate(length="20s", seed=3)
    played = {note.velocity for note in song_notes(song)}
    assert played and played <= set(table)


def test_a_model_without_a_velocity_table_plays_bin_middles(model, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(model, old)
    config = json.loads((old / "config.json").read_text())
    del config["data"]["velocities"]
    (old / "config.json").write_text(json.dumps(config))
    song = midigen.load_model(old).generate(length="20s", seed=3)
    assert {note.velocity for note in song_notes(song)} <= {b * 8 + 4 for b in range(16)}
    assert_refused(old, config, "velocities", [[200] * 16])


def assert_refused(folder: Path, config: dict, field: str, bad_values) -> None:
    """Each of ``bad_values`` as config.json's ``data.<field>`` makes the model unloadable,
    with an error naming the field."""
    for bad in bad_values:
        config["data"][field] = bad
        (folder / "config.json").write_text(json.dumps(config))
        with pytest.raises(midigen.MidiError, match=f"data.{field}"):
            midigen.load_model(folder)


def test_a_model_keeps_what_its_training_pieces_openings_were_like(model, tmp_path):
    config = json.loads((model / "config.json").read_text())
    meta = json.loads((model.parent / "data" / "meta.json").read_text())
    assert config["data"]["piece_quantiles"] == meta["piece_quantiles"]
    assert set(meta["piece_quantiles"]) == set(BOUNDS)
    assert all(list(q) == [""] and len(q[""]) == 11 for q in meta["piece_quantiles"].values())
    old = tmp_path / "old"
    shutil.copytree(model, old)
    del config["data"]["piece_quantiles"]  # a model from before: the key bias always holds
    (old / "config.json").write_text(json.dumps(config))
    assert midigen.load_model(old).piece_quantiles == {}
    assert midigen.load_model(old).generate(length="10s", seed=3).tracks
    config["data"]["key_shares"] = {"": [0.9] * 11}  # and one with its key shares alone
    (old / "config.json").write_text(json.dumps(config))
    assert midigen.load_model(old).piece_quantiles == {"key_share": {"": (0.9,) * 11}}
    bad_shares = ({"": [0.5] * 10}, {"": [1.0, *[0.5] * 10]}, {"": [2.0] * 11}, [0.5] * 11)
    assert_refused(old, config, "key_shares", bad_shares)
    del config["data"]["key_shares"]
    bad_tables = (
        {"tempo": {"": [1.0] * 11}},  # no such figure
        {"mean_pitch": {"": [200.0] * 11}},  # out of bounds
        {"mean_pitch": {"": [60.0] * 10 + [float("nan")]}},
        {"mean_pitch": {"": [61.0] + [60.0] * 10}},  # falling
        {"velocity_bins": {"": [True] * 11}},
        {"mean_pitch": {"": "60"}},
        [1.0],
    )
    assert_refused(old, config, "piece_quantiles", bad_tables)


def test_a_model_keeps_which_instruments_its_styles_play(model, tmp_path):
    config = json.loads((model / "config.json").read_text())
    meta = json.loads((model.parent / "data" / "meta.json").read_text())
    assert config["data"]["style_instruments"] == meta["style_instruments"]
    assert midigen.load_model(model).style_instruments == {
        style: {int(k): v for k, v in shares.items()}
        for style, shares in meta["style_instruments"].items()
    }
    old = tmp_path / "old"
    shutil.copytree(model, old)
    del config["data"]["style_instruments"]  # a model from before: any instrument
    (old / "config.json").write_text(json.dumps(config))
    assert midigen.load_model(old).style_instruments == {}
    bad_tables = ({"": {"129": 0.5}}, {"": {"0": 1.5}}, {"": {"piano": 1.0}}, {"": [0]}, [1])
    assert_refused(old, config, "style_instruments", bad_tables)


def test_num_writes_different_pieces(model, tmp_path):
    result = run(
        "generate",
        "-m",
        model,
        "-o",
        tmp_path / "idea.mid",
        "--num",
        "3",
        "--length",
        "10s",
        "--seed",
        "1",
    )
    assert result.exit_code == 0, result.output
    pieces = [(tmp_path / f"idea-{k}.mid").read_bytes() for k in (1, 2, 3)]
    assert len(set(pieces)) == 3


def test_length_in_seconds_and_tokens(model):
    loaded = midigen.load_model(model)
    notes = song_notes(loaded.generate(length="12s", seed=2))
    assert notes and max(n.start for n in notes) < 12.0
    (tokens,) = sample_tokens(
        loaded.stepper,
        loaded.vocab,
        ["EVENT_24"],
        length=Length.parse("50tokens"),
        sampling=Sampling(),
        seed=2,
    )
    assert 50 <= len(tokens) <= 50 + 4  # a note under way gets its VEL and DUR


def test_the_prime_is_kept(model, tmp_path):
    out = tmp_path / "more.mid"
    result = run(
        "generate",
        "-m",
        model,
        "-o",
        out,
        "--prime",
        PRIME,
        "--prime-seconds",
        "3",
        "--length",
        "8s",
        "--seed",
        "4",
    )
    assert result.exit_code == 0, result.output
    original = [n for n in song_notes(midigen.read(PRIME)) if n.start < 3 - 1e-6]
    continued = [n for n in song_notes(midigen.read(out)) if n.start < 3 - 1e-6]
    assert len(continued) == len(original)
    for a, b in zip(
        sorted(original, key=lambda n: (n.start, n.pitch)),
        sorted(continued, key=lambda n: (n.start, n.pitch)),
        strict=True,
    ):
        # the prime's own notes, not the tokens' (on a grid, in velocity bins)
        assert (a.start, a.pitch, a.velocity, a.instrument) == (
            b.start,
            b.pitch,
            b.velocity,
            b.instrument,
        )


def test_a_continuation_asked_for_another_key_says_it_and_notates_it_from_the_cut(model, tmp_path):
    out = tmp_path / "more.mid"
    result = run("generate", "-m", model, "-o", out, "--prime", PRIME, "--prime-seconds", "3",
                 "--length", "8s", "--key", "F#m", "--seed", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "C major then F# minor, 4/4 at 120 bpm" in result.output  # the prime's own C
    signatures = [
        (at, data[1:])
        for at, status, data, _ in timed_rows(midigen.read(out).tracks[0])
        if status == 0xFF and data[:1] == b"\x59"
    ]
    assert signatures == [(0, b"\x00\x00"), (3 * 2 * 220, b"\x03\x01")]  # 3 sharps, minor


def test_render_png_wav_and_opus(model, tmp_path):
    song_path = tmp_path / "song.mid"
    run("generate", "-m", model, "-o", song_path, "--length", "4s", "--seed", "9")
    result = run("render", song_path, "-o", tmp_path / "song.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "song.png").read_bytes().startswith(b"\x89PNG")
    result = run("render", PRIME, "-o", tmp_path / "song.wav")
    assert result.exit_code == 0, result.output
    with wave.open(str(tmp_path / "song.wav")) as audio:
        assert audio.getnchannels() == 2
        seconds = audio.getnframes() / audio.getframerate()
    assert abs(seconds - pretty_midi.PrettyMIDI(str(PRIME)).get_end_time()) < 3
    assert peak_dbfs(tmp_path / "song.wav") == pytest.approx(-1.0, abs=0.05)
    result = run("render", PRIME, "-o", tmp_path / "song.opus")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "song.opus").read_bytes()[:4] == b"OggS"
    assert "s of audio" in result.output


def peak_dbfs(path: Path) -> float:
    with wave.open(str(path)) as audio:
        frames = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
    return 20 * np.log10(np.abs(frames.astype(np.int32)).max() / 32767)


def longest_flat_top(path: Path) -> int:
    """The longest run of samples at the file's peak in one channel: a clipped wave sits
    there flat, however it was scaled after; a wave that was not has one or two."""
    with wave.open(str(path)) as audio:
        frames = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
        frames = np.abs(frames.astype(np.int32)).reshape(-1, audio.getnchannels())
    edge = np.zeros((1, frames.shape[1]), np.int8)
    steps = np.diff(np.vstack([edge, (frames == frames.max()).astype(np.int8), edge]), axis=0)
    longest = 0
    for channel in steps.T:  # a run begins where a step is +1 and ends where one is -1
        runs = np.flatnonzero(channel < 0) - np.flatnonzero(channel > 0)
        longest = max(longest, int(runs.max(initial=0)))
    return longest


def loud_tutti(path: Path) -> Path:
    """Every melodic channel at full volume playing 8-note chords at velocity 127: more
    than the synthesizer can sum below full scale."""
    midi = mido.MidiFile(ticks_per_beat=96)
    for channel in (c for c in range(16) if c != 9):
        track = mido.MidiTrack()
        track.append(mido.Message("program_change", channel=channel, program=channel * 8))
        track.append(mido.Message("control_change", channel=channel, control=7, value=127))
        for _ in range(4):
            for note in range(48, 80, 4):
                track.append(mido.Message("note_on", channel=channel, note=note, velocity=127))
            for index, note in enumerate(range(48, 80, 4)):
                track.append(
                    mido.Message("note_off", channel=channel, note=note, time=96 * (index == 0))
                )
        midi.tracks.append(track)
    midi.save(path)
    return path


SAMPLES = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.mid"))


@pytest.fixture(scope="module")
def shipped_pieces(tmp_path_factory) -> list[Path]:
    """20 pieces of 20 s from the shipped model, written as files."""
    folder = tmp_path_factory.mktemp("shipped")
    shipped = midigen.load_model(Path(__file__).resolve().parents[1] / "models" / "default")
    paths = []
    for index, song in enumerate(shipped.generate_batch(num=20, length="20s", seed=1)):
        paths.append(folder / f"generated-{index}.mid")
        paths[-1].write_bytes(midigen.write(song))
    return paths


def test_generated_pieces_are_tidy_parts(shipped_pieces):
    """One track per instrument, notes in the instrument's range, a meter at tick 0, and the
    first note within the first beat."""
    from midigen.midi.gm import PROGRAM_RANGES

    for path in shipped_pieces:
        song = midigen.read(path, strict=True)
        signatures = [e for e in song.tracks[0] if e.meta_type == 0x58]
        assert signatures and signatures[0].delta == 0
        programs = []
        for track in song.tracks[1:]:
            changes = [
                e.data[0] for e in track if e.channel is not None and e.status & 0xF0 == 0xC0
            ]
            drums = any(e.channel == 9 for e in track)
            programs.append("drums" if drums else changes[0])
            if not drums:
                low, high = PROGRAM_RANGES[changes[0]]
                assert all(low <= e.data[0] <= high for e in track if e.is_note_on), path.name
        assert len(programs) == len(set(programs)), path.name
        midi = pretty_midi.PrettyMIDI(str(path))
        first = min(n.start for i in midi.instruments for n in i.notes)
        assert first < 60 / midi.get_tempo_changes()[1][0] + 1e-6, path.name


def test_previews_never_clip(shipped_pieces, tmp_path):
    """The shipped samples, 20 generated pieces of the shipped model and a tutti too loud
    for the synthesizer at full volume: no clipped wave in their WAVs, peaks at -1 dBFS."""
    for source in [*SAMPLES, *shipped_pieces, loud_tutti(tmp_path / "tutti.mid")]:
        wav = tmp_path / (source.stem + ".wav")
        result = run("render", source, "-o", wav)
        assert result.exit_code == 0, result.output
        assert longest_flat_top(wav) <= 2, source.name
        assert peak_dbfs(wav) == pytest.approx(-1.0, abs=0.05), source.name


def test_opus_previews_leave_headroom(tmp_path, monkeypatch):
    """What the synthesizer makes of the tutti for an Opus file peaks below -1 dBFS: Opus
    is not scaled after, so it must not clip on its way in."""
    from midigen.views import render

    played = []

    def unclipped(song, font, ceiling):
        played.append((ceiling, *render_unclipped(song, font, ceiling)))
        return played[-1][1:]

    render_unclipped = render._unclipped
    monkeypatch.setattr(render, "_unclipped", unclipped)
    result = run("render", loud_tutti(tmp_path / "tutti.mid"), "-o", tmp_path / "tutti.opus")
    assert result.exit_code == 0, result.stderr
    [(ceiling, midi, wav)] = played
    assert ceiling == pytest.approx(render.FULL_SCALE * 10 ** (render.PEAK_DBFS / 20))
    assert 0 < render._peak(wav) < ceiling
    volumes = [e.data[1] for e in midigen.read(midi).tracks[0] if e.status & 0xF0 == 0xB0]
    assert volumes and max(volumes) < 100  # played quieter than General MIDI's default


def test_generate_refuses_an_output_that_is_not_midi(model, tmp_path):
    result = run("generate", "-m", model, "-o", tmp_path / "song.wav", "--seed", "1")
    assert result.exit_code == 2
    assert "must end in .mid or .midi" in result.stderr
    assert not (tmp_path / "song.wav").exists()


def test_render_refuses_other_suffixes(tmp_path):
    result = run("render", PRIME, "-o", tmp_path / "song.mp3")
    assert result.exit_code == 2


def one_note_file(division: int, end_delta: int, note_ticks: int = 0x60) -> bytes:
    """A format 0 file: one note of ``note_ticks``, then its End of Track ``end_delta``
    ticks on."""
    track = bytes([0, 0x90, 60, 100]) + encode_vlq(note_ticks) + bytes([0x80, 60, 0])
    track += encode_vlq(end_delta) + bytes([0xFF, 0x2F, 0])
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1]) + division.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def test_render_names_a_soundfont_that_is_not_one(tmp_path):
    font = tmp_path / "font.sf2"
    font.write_bytes(PRIME.read_bytes())  # a MIDI file given as the SoundFont
    result = run("render", PRIME, "-o", tmp_path / "x.wav", "--soundfont", font)
    assert result.exit_code == 1 and not (tmp_path / "x.wav").exists()
    assert result.stderr == (
        f"error: {font}: not a SoundFont 2 file (it starts with b'MThd', not b'RIFF'...b'sfbk')\n"
    )


def test_render_names_the_song_when_the_synthesizer_cannot_play_it(tmp_path):
    no_tracks = tmp_path / "no_tracks.mid"  # the synthesizer panicked on it
    no_tracks.write_bytes(b"MThd" + bytes([0, 0, 0, 6, 0, 1, 0, 0, 0, 96]))
    result = run("render", no_tracks, "-o", tmp_path / "x.wav")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {no_tracks}: ")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "x.wav").exists()


def test_render_plays_a_file_in_its_riff_wrapper(tmp_path):
    riff = tmp_path / "song.rmi"
    smf = PRIME.read_bytes()
    data = b"data" + len(smf).to_bytes(4, "little") + smf
    riff.write_bytes(b"RIFF" + (4 + len(data)).to_bytes(4, "little") + b"RMID" + data)
    assert midigen.read(riff).riff is not None
    result = run("render", riff, "-o", tmp_path / "song.wav")
    assert result.exit_code == 0, result.output
    assert "s of audio" in result.stdout and "0.0 s" not in result.stdout


@pytest.mark.parametrize(
    ("name", "seconds"),
    [
        # each file's seconds and RELEASE_SECONDS (2 s) for its last notes to ring out
        ("crafted_smpte_division.mid", 2.3),  # 25 fps x 40: it had rendered 0 s of silence
        ("jazzsoft_test-2-tracks-type-2.mid", 6.5),  # format 2: "not supported"
        ("crafted_header_length_8.mid", 5.6),  # "the 'MThd' chunk has invalid data"
    ],
)
def test_render_plays_what_the_synthesizer_reads_only_rewritten(tmp_path, name, seconds):
    result = run("render", DATA / name, "-o", tmp_path / "x.wav")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'x.wav'}: {seconds} s of audio\n"
    with wave.open(str(tmp_path / "x.wav")) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), "<i2")
    assert np.abs(samples).max() > 1000  # it sounds


@pytest.mark.parametrize(
    "tempo",
    [
        bytes([0xFF, 0x51, 2, 0x07, 0xA1]),  # 2 bytes: the synthesizer failed "to read" it
        bytes([0xFF, 0x51, 3, 0, 0, 0]),  # 0 us a quarter: it rendered 0.0 s of audio
    ],
)
def test_render_passes_over_a_broken_tempo_event(tmp_path, tempo):
    # kept verbatim by the tolerant reader and passed over by every other command
    track = (bytes([0]) + tempo + bytes([0, 0x90, 60, 100, 0x60, 0x80, 60, 0])
             + bytes([0, 0xFF, 0x2F, 0]))  # fmt: skip
    song = tmp_path / "song.mid"
    song.write_bytes(b"MThd" + bytes([0, 0, 0, 6, 0, 0, 0, 1, 0, 96]) + b"MTrk"
                     + len(track).to_bytes(4, "big") + track)  # fmt: skip
    result = run("render", song, "-o", tmp_path / "x.wav")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'x.wav'}: 2.5 s of audio\n"  # a beat at 120 bpm


@pytest.mark.parametrize(
    ("division", "note_ticks", "message"),
    [
        (96, 96 * 2 * 60 * 31, "its music lasts 31 minutes; audio previews stop at 30"),
        (96, 0x0FFFFFFF, "lasts 23,302 minutes"),  # a broken file's delta: once, 800 GB asked
        (0, 96, "division is 0 ticks per quarter: times cannot be converted to seconds"),
    ],
)
def test_render_refuses_audio_it_cannot_hold(tmp_path, division, note_ticks, message):
    source = tmp_path / "long.mid"
    source.write_bytes(one_note_file(division, 0, note_ticks))
    result = run("render", source, "-o", tmp_path / "long.wav")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(f"error: {source}: ")  # after warnings
    assert message in result.stderr
    assert not (tmp_path / "long.wav").exists()


def test_sampling_reports_its_progress_up_to_the_whole_length(model):
    shares: list[float] = []
    midigen.load_model(model).generate_batch(
        num=2, length="1000tokens", seed=1, progress=shares.append
    )
    assert len(shares) >= 4 and shares[0] == 0.0 and shares[-1] == 1.0
    assert shares == sorted(shares) and 0.2 < shares[1] < 0.3  # 256 tokens of 1,000
    shares.clear()  # a continuation's share counts from the end of its prime
    midigen.load_model(model).generate_batch(
        num=1, length="20s", prime=PRIME, prime_seconds=10, seed=1, progress=shares.append
    )
    assert shares[0] == 0.0 and shares[-1] == 1.0


def test_render_refuses_a_song_with_no_seconds_given_from_python(tmp_path):
    from midigen.views.render import render_audio

    song = midigen.read(one_note_file(0, 0))
    with pytest.raises(midigen.MidiError, match="there is no audio to render"):
        render_audio(song, tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_a_file_with_no_seconds_is_one_error_line_naming_where(tmp_path, model):
    """A division of 0 had printed its warning, then an error saying the same without
    the byte it is at."""
    source = tmp_path / "zero.mid"
    source.write_bytes(one_note_file(0, 0))
    for command in (
        ("generate", "-m", model, "-o", tmp_path / "x.mid", "--prime", source),
        ("infill", source, "--bars", "1-2", "-m", model, "-o", tmp_path / "y.mid"),
        ("render", source, "-o", tmp_path / "z.png"),
    ):
        result = run(*command)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: {source}: division is 0 ticks per quarter: "
            "times cannot be converted to seconds (byte 12)\n"
        )
    assert not list(tmp_path.glob("[xyz].*"))


@pytest.mark.parametrize(
    ("end_delta", "seconds"),
    [
        (96 * 8, 6.5),  # 4 s of silence after the beat: the file's own ending, kept
        (96 * 256, 130.5),  # 64 bars of it: the longest the tokens keep, kept too
        (96 * 2 * 60 * 29, 2.5),  # 29 minutes: 3 GB of silence, left out
        (96 * 2 * 60 * 31, 2.5),  # 31: a refusal, once
        (0x0FFFFFFF, 2.5),  # years: a broken file's delta
    ],
)
def test_render_leaves_out_a_long_silence_to_a_far_end_of_track(tmp_path, end_delta, seconds):
    """A beat of music whose End of Track comes later: the preview plays to it, unless the
    silence is longer than 64 bars; then it is the music and its release."""
    source = tmp_path / "far.mid"
    source.write_bytes(one_note_file(96, end_delta))
    result = run("render", source, "-o", tmp_path / "far.wav")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'far.wav'}: {seconds} s of audio\n"


def test_compare_two_small_folders(tmp_path):
    folder = tmp_path / "set"
    shutil.copytree(DATA, folder, ignore=lambda _, names: [n for n in names if ".mid" not in n])
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00")  # the SMPTE file is read now
    result = run("compare", folder, "--reference", folder, "--json")
    assert result.exit_code == 1  # the broken file, on both sides
    assert result.stderr.splitlines()[-1] == "error: left out 2 files"
    report = json.loads(result.stdout)
    assert set(report["statistics"]) >= {"pitch_class_entropy", "polyphony", "velocity"}
    assert report["mean_overlap"] > 0.95  # a set against itself
    result = run("compare", PRIME, "--reference", DATA / "crafted_mixed_running_status.mid")
    assert result.exit_code == 0
    assert "mean overlap" in result.output
    silent = tmp_path / "silent.mid"  # one track of nothing but its End of Track
    track = bytes([0, 0xFF, 0x2F, 0])
    silent.write_bytes(
        b"MThd" + bytes([0, 0, 0, 6, 0, 0, 0, 1, 0, 96])
        + b"MTrk" + len(track).to_bytes(4, "big") + track
    )  # fmt: skip
    result = run("compare", PRIME, silent, "--reference", PRIME)
    assert result.exit_code == 1
    assert f"error: {silent}: has no notes to compare\n" in result.stderr
    assert "mean overlap" in result.stdout  # the rest is compared


def test_compare_takes_every_file_after_reference_as_real(tmp_path):
    """`compare out/*.mid --reference real/*.mid`, as a shell expands it: each file after
    --reference (and after --train) is a reference, none of them counted as generated."""
    real = [
        DATA / name
        for name in ("crafted_mixed_running_status.mid", "jazzsoft_test-2-tracks-type-2.mid")
    ]
    real.append(DATA / "crafted_vlq_non_minimal.mid")
    result = run("compare", PRIME, "--reference", *real, "--train", *real, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pieces"] == {"generated": 1, "reference": 3}
    assert len(report["copying"]["reference"]["longest_copied_notes_per_piece"]) == 3
    result = run("compare", PRIME, "--reference", real[0], "--json", "--reference", *real[1:])
    assert json.loads(result.stdout)["pieces"] == {"generated": 1, "reference": 3}
    result = run("compare", PRIME, f"--reference={real[0]}", *real[1:], "--json")
    assert json.loads(result.stdout)["pieces"] == {"generated": 1, "reference": 3}
    result = run("compare", PRIME, "--reference=", *real, "--json")  # not the folder "."
    assert json.loads(result.stdout)["pieces"] == {"generated": 1, "reference": 3}


def test_compare_leaves_the_statistics_of_pitch_out_for_drums_alone(tmp_path):
    for name, hits in (("a", 8), ("b", 12)):
        song = pretty_midi.PrettyMIDI(initial_tempo=120)
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = [pretty_midi.Note(100, 36, t / 4, t / 4 + 0.1) for t in range(hits)]
        song.instruments.append(kit)
        song.write(str(tmp_path / f"{name}.mid"))
    result = run("compare", tmp_path / "a.mid", "--reference", tmp_path / "b.mid", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    pitched = ("pitch_class_entropy", "pitch_range", "mean_pitch", "polyphony", "note_duration")
    for name in (*pitched, "scale_consistency"):
        assert report["statistics"][name]["overlap"] is None  # not 1.00 for two zeros
    others = [row["overlap"] for row in report["statistics"].values() if row["overlap"] is not None]
    assert len(others) == 3 and report["mean_overlap"] == pytest.approx(sum(others) / 3)


def test_compare_warns_that_a_handful_of_pieces_has_no_spread_to_measure(tmp_path):
    for index in range(5):
        song = pretty_midi.PrettyMIDI(initial_tempo=120)
        piano = pretty_midi.Instrument(program=0)
        piano.notes = [
            pretty_midi.Note(80, 60 + index + t % 5, t / 2, t / 2 + 0.4) for t in range(16)
        ]
        song.instruments.append(piano)
        song.write(str(tmp_path / f"{index}.mid"))
    pieces = sorted(tmp_path.glob("*.mid"))
    result = run("compare", *pieces, "--reference", *pieces)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    result = run("compare", pieces[0], "--reference", *pieces)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "warning: an overlap measures how a statistic spreads over pieces; with 1 generated "
        "and 5 reference it says little (use 5 or more on each side)\n"
    )
    assert "mean overlap" in result.stdout


@pytest.mark.parametrize(("generated", "reference"), [(1, 20), (2, 20), (3, 20), (2, 1)])
def test_sets_of_one_velocity_overlap_fully_whatever_their_sizes(generated, reference):
    from midigen.views.compare import overlapping_area

    assert overlapping_area([90.0] * generated, [90.0] * reference) == pytest.approx(1, abs=1e-3)
    assert overlapping_area([90.0] * generated, [64.0] * reference) < 1e-3


def test_a_continuation_keeps_the_tracks_its_prime_plays_one_instrument_in(model, tmp_path):
    prime = pretty_midi.PrettyMIDI(initial_tempo=120)
    for name, low in (("right hand", 72), ("left hand", 36)):
        hand = pretty_midi.Instrument(program=0, name=name)
        hand.notes = [pretty_midi.Note(80, low + k % 8, k / 2, k / 2 + 0.4) for k in range(24)]
        prime.instruments.append(hand)
    prime.write(str(tmp_path / "hands.mid"))
    out = tmp_path / "out.mid"
    result = run("generate", "-m", model, "--prime", tmp_path / "hands.mid", "--prime-seconds",
                 "4", "--length", "12s", "--seed", "2", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "notes, 1 instrument in 2 tracks, " in result.output  # two pianos
    # and what a DAW project needs to play along: the key it is notated in, meter, tempo
    key = pretty_midi.PrettyMIDI(str(out)).key_signature_changes[0].key_number
    name = Key.parse(pretty_midi.key_number_to_key_name(key)).full_name  # "Db Major": C# major
    assert result.output.rstrip().endswith(f"tracks, {name}, 4/4 at 120 bpm")
    assert_every_note_ends(out.read_bytes())
    written = {i.name: i for i in pretty_midi.PrettyMIDI(str(out)).instruments}
    assert set(written) <= {"right hand", "left hand"} and "left hand" in written
    for hand in prime.instruments:
        kept = [(n.pitch, round(n.start, 3)) for n in hand.notes if n.start < 4]
        assert [(n.pitch, round(n.start, 3)) for n in written[hand.name].notes][:8] == kept

    def channels(path: Path) -> dict[str, set[int]]:
        tracks = mido.MidiFile(path).tracks
        return {t.name: {m.channel for m in t if hasattr(m, "channel")} for t in tracks[1:]}

    # each on its own channel, as in the prime: MuseScore makes one staff of a channel
    assert (
        channels(out)
        == channels(tmp_path / "hands.mid")
        == {
            "right hand": {0},
            "left hand": {1},
        }
    )


def test_generate_needs_a_model(tmp_path):
    result = run("generate", "-m", tmp_path / "none", "-o", tmp_path / "x.mid")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "no config.json" in result.stderr


def continued_piano(model, tmp_path: Path, notes: list, length: str) -> Path:
    """The file `generate --seed 1` writes continuing a prime of ``notes`` on one piano
    (its default 10 s) to ``length``."""
    prime = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes = notes
    prime.instruments.append(piano)
    prime.write(str(tmp_path / "prime.mid"))
    out = tmp_path / "out.mid"
    result = run("generate", "-m", model, "--prime", tmp_path / "prime.mid", "--length", length,
                 "--seed", "1", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_a_continuation_of_a_dense_prime_lasts_its_length(model, tmp_path):
    # 60 notes a second, chords of 6 every 0.1 s: the 10 s kept took more tokens than the
    # whole piece was allowed (continuations of rock songs, 38 notes a second, fell short)
    chords = [
        pretty_midi.Note(80, 60 + 2 * k, t / 10, t / 10 + 0.1) for t in range(100) for k in range(6)
    ]
    out = continued_piano(model, tmp_path, chords, "11s")
    assert pretty_midi.PrettyMIDI(str(out)).get_end_time() == pytest.approx(11, abs=0.05)


def test_a_primes_held_notes_end_with_the_piece(model, tmp_path):
    notes = [pretty_midi.Note(90, 60 + start, start, start + 0.5) for start in range(10)]
    notes[-1].end = 15.5  # a note a second, the last held for 6 s
    midi = pretty_midi.PrettyMIDI(str(continued_piano(model, tmp_path, notes, "12s")))
    ends = [note.end for instrument in midi.instruments for note in instrument.notes]
    assert 11.5 < max(ends) <= 12 + 0.5 / 24  # the held note stops with the piece


@pytest.mark.parametrize(
    ("seconds", "what"),
    [
        ("500", "the whole prime (shorter than 500 s) already fills"),
        ("3.01", "the prime's first 3.01 s already fill"),  # cut a little before 3.01 s
    ],
)
def test_a_prime_that_already_fills_the_length_is_one_error(model, tmp_path, seconds, what):
    out = tmp_path / "x.mid"
    result = run("generate", "-m", model, "-o", out, "--prime", PRIME, "--prime-seconds", seconds,
                 "--length", "2s", "--seed", "1")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {PRIME}: {what} the length (2 seconds): ask for more, or keep less prime\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("length", ["0", "-1s", "soon", "2h"])
def test_a_bad_length_is_a_usage_error_before_anything_is_said(model, tmp_path, length):
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid", "--length", length)
    assert result.exit_code == 2
    assert "seed" not in result.stderr and "--length" in result.stderr


def test_prime_seconds_without_a_prime_is_a_usage_error(model, tmp_path):
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid", "--prime-seconds", "5")
    assert result.exit_code == 2
    assert "--prime-seconds says how much of a --prime to keep" in result.stderr


def test_a_piece_with_no_notes_is_written_with_a_warning(model, tmp_path):
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid", "--length", "1tokens")
    assert result.exit_code == 0
    assert f"warning: {tmp_path / 'x.mid'} has no notes: ask for a longer --length" in (
        result.stderr
    )


def test_a_wav_preview_too_long_to_render_is_refused_before_generating(model, tmp_path):
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid", "--length", "31m", "--wav")
    assert result.exit_code == 2
    assert "Invalid value for --length: --wav previews stop at 30 minutes" in result.stderr
    assert not list(tmp_path.iterdir())


def test_pieces_that_came_out_the_same_are_named(model, tmp_path):
    """A prime that fills all but a grid step of --length leaves nothing to draw."""
    out = tmp_path / "x.mid"
    args = ("--prime", PRIME, "--prime-seconds", "3.98", "--length", "4s", "--num", "2")
    result = run("generate", "-m", model, "-o", out, *args, "--seed", "1")
    assert result.exit_code == 0
    assert (tmp_path / "x-1.mid").read_bytes() == (tmp_path / "x-2.mid").read_bytes()
    assert result.stderr == (
        f"warning: {tmp_path / 'x-2.mid'} is the same as {tmp_path / 'x-1.mid'}: "
        "ask for a longer --length\n"
    )
    result = run("generate", "-m", model, "-o", out, "--length", "4s", "--num", "2", "--seed", "1")
    assert "the same as" not in result.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),
        ("--num", "1001"),
        ("--num", "0"),
        ("--temperature", "nan"),
        ("--temperature", "inf"),
        ("--top-p", "nan"),
        ("--prime-seconds", "nan"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(model, tmp_path, option, value):
    result = run("generate", "-m", model, "-o", tmp_path / "x.mid", option, value)
    assert result.exit_code == 2
    assert option in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text", ["", "   "])
def test_predict_with_no_tokens_is_a_usage_error(model, text):
    result = run("predict", model, "--tokens", text)
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Invalid value for --tokens: holds no tokens\n")


def test_predict_names_the_tokens_it_does_not_know(model):
    result = run("predict", model, "--tokens", "EVENT_24 hello NOTE_60 world", "--top", "2")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: 2 tokens not in the model's vocabulary, read as <unk>: hello, world\n"
    )
    assert len(result.stdout.splitlines()) == 2


def test_no_generated_note_is_too_soft_to_hear():
    shipped = midigen.load_model(Path(__file__).resolve().parents[1] / "models" / "default")
    assert shipped.config["data"]["velocities"][0] == 1  # its corpus's placeholders
    assert min(shipped.velocities) == 8
    song, _ = event_tokens_to_song(
        ["EVENT_24", "NOTE_60", "VEL_0", "DUR_12"], velocities=shipped.velocities
    )
    (note,) = [n for i in song.to_pretty_midi().instruments for n in i.notes]
    assert note.velocity == 8


def test_the_python_api_takes_what_a_user_has_at_hand(model):
    """Seconds as a number, instruments as a list, a prime as a path, its bytes or a
    Song, all give the same music; a file name where a Song belongs says what to do."""
    loaded = midigen.load_model(model)
    for seconds in (6, 6.0, np.int64(6)):
        assert midigen.write(loaded.generate(length=seconds, seed=3)) == midigen.write(
            loaded.generate(length="6s", seed=3)
        )
    listed = loaded.generate(length="4s", seed=3, instruments=["piano", 33])
    assert midigen.write(listed) == midigen.write(
        loaded.generate(length="4s", seed=3, instruments="piano,33")
    )
    primes = (PRIME, PRIME.read_bytes(), midigen.read(PRIME))
    songs = [loaded.generate(prime=prime, prime_seconds=2, length="6s", seed=1) for prime in primes]
    assert len({midigen.write(song) for song in songs}) == 1
    with pytest.raises(midigen.MidiError, match="^the prime: the prime's first 9 s already"):
        loaded.generate(prime=midigen.read(PRIME), prime_seconds=9, length="6s")
    for call in (lambda: midigen.tokenize(str(PRIME)), lambda: midigen.write(PRIME)):
        with pytest.raises(TypeError, match=r"takes a Song \(midigen.read\(path\) reads one\)"):
            call()


def test_an_smpte_song_is_drawn_and_compared_at_the_seconds_it_plays(tmp_path):
    """pretty_midi knows only quarter notes: an SMPTE time base is read as ticks per
    quarter at 60 bpm (it refused), and a tempo event, which changes nothing under SMPTE,
    is left out without moving what follows it (its wait went with it)."""
    from midigen.views.notes import song_notes

    rows = [(0, 0x90, b"\x3c\x50", False), (100, 0xFF, b"\x51\x07\xa1\x20", False),
            (900, 0x80, b"\x3c\x00", False), (0, 0x90, b"\x40\x50", False),
            (1000, 0x80, b"\x40\x00", False), (0, 0xFF, b"\x2f", False)]  # fmt: skip
    song = midigen.Song(format=0, division=(256 - 25) << 8 | 40, tracks=[midigen.Track(rows)])
    notes = [(n.pitch, round(n.start, 3), round(n.end, 3)) for n in song_notes(song)]
    assert notes == [(60, 0.0, 1.0), (64, 1.0, 2.0)]  # 1,000 ticks a second at 25 x 40
    (tmp_path / "smpte.mid").write_bytes(midigen.write(song))
    result = run("render", tmp_path / "smpte.mid", "-o", tmp_path / "smpte.png")
    assert result.exit_code == 0, result.output
    result = run("compare", PRIME, "--reference", tmp_path / "smpte.mid")
    assert result.exit_code == 0, result.output
    bad_rate = midigen.Song(format=0, division=(256 - 23) << 8 | 40, tracks=[midigen.Track(rows)])
    with pytest.raises(midigen.MidiError, match="SMPTE division 23 fps"):  # no KeyError
        song_notes(bad_rate)
    (tmp_path / "none.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x00\x60")
    result = run("render", tmp_path / "none.mid", "-o", tmp_path / "none.png")
    assert result.stderr.endswith("none.mid: the song has no tracks, so no notes to read\n")


def test_a_format_2_file_plays_to_its_first_sequences_tempo(tmp_path):
    """As the piano roll and the tokens take it: another sequence's tempo event must not
    slow the first (gathered into one map, a 97.6 s file had played for 112 s)."""
    tempo = {120: b"\x51\x07\xa1\x20", 60: b"\x51\x0f\x42\x40"}
    tracks = [
        midigen.Track([(0, 0xFF, tempo[bpm], False), (0, 0x90, bytes((key, 80)), False),
                       (96 * beats, 0x80, bytes((key, 0)), False), (0, 0xFF, b"\x2f", False)])
        for bpm, key, beats in ((120, 60, 4), (60, 67, 2))
    ]  # fmt: skip
    (tmp_path / "two.mid").write_bytes(midigen.write(midigen.Song(2, 96, tracks)))
    result = run("render", tmp_path / "two.mid", "-o", tmp_path / "two.wav")
    assert result.stdout == f"{tmp_path / 'two.wav'}: 4.0 s of audio\n"  # 2 s, and the ring
    notes = song_notes(midigen.read(tmp_path / "two.mid"))
    assert max(note.end for note in notes) == 2.0  # the piano roll's reading


def test_a_prime_cut_before_its_first_note_is_continued_from_its_end(model, tmp_path):
    # a banjo tune whose first note comes at 2 s, kept for 1.03 s: the continuation plays
    # the file's banjo by the beat after the prime's end, on its pulse's grid (it had
    # rested to its end, 0 notes)
    notes = [pretty_midi.Note(90, 60 + k % 5, 2 + k / 4, 2.25 + k / 4) for k in range(24)]
    prime = pretty_midi.PrettyMIDI(initial_tempo=120)
    banjo = pretty_midi.Instrument(program=105)
    banjo.notes = notes
    prime.instruments.append(banjo)
    prime.write(str(tmp_path / "prime.mid"))
    for seed in (1, 2, 3):
        out = tmp_path / f"out-{seed}.mid"
        result = run("generate", "-m", model, "--prime", tmp_path / "prime.mid", "--prime-seconds",
                     "1.03", "--length", "8s", "--seed", seed, "-o", out)  # fmt: skip
        assert result.exit_code == 0, result.output
        played = pretty_midi.PrettyMIDI(str(out)).instruments
        assert [instrument.program for instrument in played] == [105]
        first = round(min(note.start for note in played[0].notes) * 48)  # 48 steps a second
        assert 49 <= first <= 72 and first % 24 in (0, 6, 8, 12, 16, 18)


def test_a_continuation_keeps_its_primes_velocities(model, tmp_path):
    # a VEL bin stands for 8 velocities: the kept notes had played as loud as their
    # bin's (a ghost note at 3 came out at 8)
    velocities = [3, 41, 77, 126, 9, 64, 100, 17, 55, 88, 70, 70]  # the last two cut off
    notes = [pretty_midi.Note(v, 60 + k, k, k + 0.5) for k, v in enumerate(velocities)]
    midi = pretty_midi.PrettyMIDI(str(continued_piano(model, tmp_path, notes, "14s")))
    kept = sorted((n.start, n.velocity) for i in midi.instruments for n in i.notes if n.start < 10)
    assert [velocity for _, velocity in kept] == velocities[:10]
