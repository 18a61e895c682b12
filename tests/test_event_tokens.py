"""The event scheme: golden token sequences, robust decoding, note round trips."""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import pretty_midi
import pytest

import midigen
from midigen import Song, Track
from midigen.midi.timing import TempoMap, tempo_changes
from midigen.tokens import grammar
from midigen.tokens.event import event_tokens_to_song, song_to_event_tokens
from midigen.tokens.grammar import vocabulary
from midigen.views.notes import pretty, song_notes
from midigen.views.summary import longest_meter, summarize

DATA = Path(__file__).parent / "data"
TPQ = 96  # ticks per quarter in the hand-made songs: 4 ticks per step


def song(*tracks: list[tuple[int, int, bytes]], tpq: int = TPQ) -> Song:
    """A format 1 song from tracks of (absolute tick, status, data)."""
    built = []
    for events in tracks:
        rows, now = [], 0
        for tick, status, data in sorted(events, key=lambda e: e[0]):
            rows.append((tick - now, status, data, False))
            now = tick
        rows.append((0, 0xFF, b"\x2f", False))
        built.append(Track(rows))
    return Song(format=1, division=tpq, tracks=built)


def note(start: int, end: int, pitch: int, velocity: int = 100, channel: int = 0):
    return [
        (start, 0x90 | channel, bytes((pitch, velocity))),
        (end, 0x80 | channel, bytes((pitch, 0))),
    ]


def tempo(tick: int, bpm: float):
    return (tick, 0xFF, b"\x51" + round(60e6 / bpm).to_bytes(3, "big"))


def test_vocabulary_is_small_and_unique():
    tokens = vocabulary()
    assert len(tokens) < 1000
    assert len(set(tokens)) == len(tokens)
    assert tokens[0] == "EVENT_24"


def test_a_chord():
    tokens = song_to_event_tokens(song(note(0, 96, 60) + note(0, 96, 64) + note(0, 96, 67, 64)))
    assert tokens == [
        "EVENT_24",
        "BAR",
        "NOTE_60",
        "VEL_12",
        "DUR_24",
        "NOTE_64",
        "VEL_12",
        "DUR_24",
        "NOTE_67",
        "VEL_8",
        "DUR_24",
    ]


def test_a_triplet_is_exact():
    third = TPQ // 3  # 32 ticks = 8 steps
    events = note(0, third, 60) + note(third, 2 * third, 62) + note(2 * third, TPQ, 64)
    tokens = song_to_event_tokens(song(events))
    assert tokens == [
        "EVENT_24",
        "BAR",
        "NOTE_60",
        "VEL_12",
        "DUR_8",
        "SHIFT_8",
        "NOTE_62",
        "VEL_12",
        "DUR_8",
        "SHIFT_8",
        "NOTE_64",
        "VEL_12",
        "DUR_8",
    ]


def test_a_drum_fill_uses_drum_tokens_and_no_program():
    fill = []
    for k, pitch in enumerate((38, 38, 45, 36)):
        fill += note(k * 24, k * 24 + 1, pitch, 110, channel=9)
    tokens = song_to_event_tokens(song([(0, 0xC9, b"\x05")] + fill))
    assert tokens == [
        "EVENT_24",
        "BAR",
        "DRUM_38",
        "VEL_13",
        "DUR_0",
        "SHIFT_6",
        "DRUM_38",
        "VEL_13",
        "DUR_0",
        "SHIFT_6",
        "DRUM_45",
        "VEL_13",
        "DUR_0",
        "SHIFT_6",
        "DRUM_36",
        "VEL_13",
        "DUR_0",
    ]
    decoded = midigen.detokenize(tokens)
    drums = decoded.tracks[1]
    assert drums.name == "Drums"
    assert {event.channel for event in drums if event.channel is not None} == {9}


def test_a_tempo_change_keeps_seconds_exact():
    conductor = [tempo(0, 120), tempo(4 * TPQ, 90)]
    tokens = song_to_event_tokens(song(conductor, note(0, TPQ, 60) + note(8 * TPQ, 9 * TPQ, 62)))
    assert tokens[1:5] == ["TEMPO_1", "TFINE_58", "TFINE_4", "TFINE_32"]  # 500000 us
    assert tokens.count("TEMPO_2") == 1  # 666667 us = 0x0A2C2B -> 2, 40, 48, 43
    start = tokens.index("TEMPO_2")
    assert tokens[start : start + 4] == ["TEMPO_2", "TFINE_34", "TFINE_48", "TFINE_43"]
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(midigen.detokenize(tokens))))
    starts = sorted(n.start for i in midi.instruments for n in i.notes)
    assert starts == pytest.approx([0.0, 2.0 + 4 * 60 / 90])


def meter(tick: int, numerator: int, denominator: int):
    return (tick, 0xFF, bytes((0x58, numerator, denominator.bit_length() - 1, 24, 8)))


def test_a_tempo_in_a_later_track_rules_the_song_as_players_play_it():
    # a format 1 file may keep its tempo with its notes; timidity, FluidSynth and mido play
    # it, where pretty_midi reads the first track's alone (and had the song at 120 bpm)
    original = song(
        [meter(0, 4, 4)], [tempo(0, 240)] + note(0, TPQ, 60) + note(4 * TPQ, 5 * TPQ, 62)
    )
    tokens = song_to_event_tokens(original)
    assert tokens[1:5] == grammar.tempo_tokens(250_000)  # 240 bpm
    heard = [x for n in song_notes(original) for x in (n.start, n.end, n.pitch)]
    assert heard == pytest.approx([0.0, 0.25, 60, 1.0, 1.25, 62])
    decoded = song_notes(midigen.detokenize(tokens))
    assert [x for n in decoded for x in (n.start, n.end, n.pitch)] == pytest.approx(heard)
    assert TempoMap(original).seconds(4 * TPQ) == pytest.approx(1.0)


def test_a_track_that_holds_a_tempo_alone_is_read():
    alone = Track([(0, 0xFF, b"\x51" + (250_000).to_bytes(3, "big"), False)])  # no End of Track
    original = Song(format=1, division=TPQ, tracks=[song(note(0, TPQ, 60)).tracks[0], alone])
    assert [x for n in song_notes(original) for x in (n.start, n.end)] == pytest.approx([0, 0.25])


def test_of_two_tempi_at_one_tick_the_later_tracks_rules():
    original = song([tempo(0, 60)], [tempo(0, 120)] + note(TPQ, 2 * TPQ, 60))
    assert TempoMap(original).seconds(TPQ) == pytest.approx(0.5)  # not the slower's 1.0
    assert [n.start for n in song_notes(original)] == pytest.approx([0.5])
    decoded = midigen.detokenize(song_to_event_tokens(original))
    assert [n.start for n in song_notes(decoded)] == pytest.approx([0.5])


def test_the_meter_is_the_first_tracks_and_a_later_tracks_only_where_it_has_none():
    # a score's export wrote each staff's meter change in its own track, a beat apart:
    # merged, they made bars of one beat
    staff = [meter(3 * TPQ, 4, 4)] + note(0, TPQ, 60)
    staves = song([meter(0, 3, 4)], staff, [meter(4 * TPQ, 4, 4)])
    tokens = song_to_event_tokens(staves)
    assert [t for t in tokens if t.startswith("TIMESIG")] == ["TIMESIG_3_4"]
    assert summarize(staves)["meters"] == ["3/4"]  # what `info` lists
    tokens = song_to_event_tokens(song([tempo(0, 120)], [meter(0, 3, 4)] + note(0, TPQ, 60)))
    assert [t for t in tokens if t.startswith("TIMESIG")] == ["TIMESIG_3_4"]
    meters = pretty(song([], [meter(0, 3, 4)] + note(0, TPQ, 60))).time_signature_changes
    assert [(m.numerator, m.denominator) for m in meters] == [(3, 4)]  # as the tokens


def test_a_songs_meter_is_the_one_it_plays_longest():
    # Für Elise opens with a bar of 1/8, and generate's summary line named it
    fur_elise = song(
        [meter(0, 1, 8), meter(TPQ // 2, 3, 8), meter(12 * TPQ, 2, 8)], note(0, 13 * TPQ, 60)
    )
    assert summarize(fur_elise)["meters"] == ["1/8", "3/8", "2/8"]  # what `info` lists
    assert longest_meter(fur_elise) == "3/8"
    assert longest_meter(song([], note(0, TPQ, 60))) is None


def test_the_sustain_pedal_is_kept_as_tokens():
    pedal = [(0, 0xB0, b"\x40\x7f"), (2 * TPQ, 0xB0, b"\x40\x00")]
    tokens = song_to_event_tokens(song(pedal + note(0, TPQ, 60)))
    assert tokens == [
        "EVENT_24",
        "BAR",
        "PEDAL_ON",
        "NOTE_60",
        "VEL_12",
        "DUR_24",
        "SHIFT_48",
        "PEDAL_OFF",
    ]
    decoded = midigen.detokenize(tokens)
    controls = [(e.status, e.data) for e in decoded.tracks[1] if e.status & 0xF0 == 0xB0]
    assert controls == [(0xB0, b"\x40\x7f"), (0xB0, b"\x40\x00")]


def test_instruments_get_program_tokens_and_their_own_tracks():
    piano = [(0, 0xC0, b"\x00")] + note(0, TPQ, 60)
    bass = [(0, 0xC1, b"\x21")] + note(0, TPQ, 36, channel=1)
    tokens = song_to_event_tokens(song(piano, bass))
    assert tokens == [
        "EVENT_24",
        "BAR",
        "NOTE_60",
        "VEL_12",
        "DUR_24",
        "PROGRAM_33",
        "NOTE_36",
        "VEL_12",
        "DUR_24",
    ]
    decoded = midigen.detokenize(tokens)
    assert [track.name for track in decoded.tracks] == [
        "midigen",
        "Acoustic Grand Piano",
        "Electric Bass (finger)",
    ]


def test_long_notes_and_rests_chain_tokens():
    tokens = song_to_event_tokens(song(note(10 * TPQ, 16 * TPQ + 8, 60)))
    assert tokens == [
        "EVENT_24",
        "BAR",
        "SHIFT_96",
        "BAR",
        "SHIFT_96",
        "BAR",
        "SHIFT_48",
        "NOTE_60",
        "VEL_12",
        "DUR_144",
        "DUR_2",
    ]


OVERLAP = note(0, 4 * TPQ, 60) + [(TPQ, 0x91, b"\x3c\x50"), (2 * TPQ, 0x81, b"\x3c\x00")]


def test_overlapping_notes_of_one_key_survive():
    decoded = midigen.detokenize(song_to_event_tokens(song(OVERLAP)))
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(decoded)))
    notes = sorted((n.start, n.end) for i in midi.instruments for n in i.notes)
    assert notes == [(0.0, 2.0), (0.5, 1.0)]


def pieces_notes(song_: midigen.Song) -> list[tuple[float, float, int]]:
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(song_)))
    return sorted((n.start, n.end, n.pitch) for i in midi.instruments for n in i.notes)


def test_restrike_ends_the_note_a_key_interrupts_on_one_track():
    decoded, _ = event_tokens_to_song(song_to_event_tokens(song(OVERLAP)), restrike=True)
    assert [track.name for track in decoded.tracks] == ["midigen", "Acoustic Grand Piano"]
    assert pieces_notes(decoded) == [(0.0, 0.5, 60), (0.5, 1.0, 60)]


def test_restrike_makes_unison_duplicates_one_note_the_longest():
    tokens = ["EVENT_24", "NOTE_60", "VEL_8", "DUR_12", "NOTE_60", "VEL_9", "DUR_48", "NOTE_64"]
    decoded, _ = event_tokens_to_song(tokens, restrike=True)
    assert pieces_notes(decoded) == [(0.0, 0.5, 64), (0.0, 1.0, 60)]


def test_every_decoded_file_states_its_meter_at_tick_zero():
    for tokens in (
        ["EVENT_24", "NOTE_60", "VEL_8", "DUR_12"],
        ["EVENT_24", "SHIFT_5", "TIMESIG_3_4"],
    ):
        decoded = midigen.detokenize(tokens)
        first = [(e.delta, e.data[:3]) for e in decoded.tracks[0] if e.meta_type == 0x58]
        assert first[0] == (0, b"\x58\x04\x02")


def test_a_pedal_still_down_at_the_end_is_let_go_where_the_music_stops():
    tokens = ["EVENT_24", "PEDAL_ON", "NOTE_60", "VEL_12", "DUR_24", "SHIFT_48"]
    for ending, length in (([], 48), (["PEDAL_OFF", "PEDAL_ON", "NOTE_64", "VEL_12",
                                       "DUR_96"], 144)):  # fmt: skip
        decoded, _ = event_tokens_to_song(tokens + ending)
        at, controls = 0, []
        for row in decoded.tracks[1].rows:
            at += row[0]
            if row[1] & 0xF0 == 0xB0:
                controls.append((at, row[2]))
        ticks = 480 // 24  # a step
        assert controls[-1] == (length * ticks, b"\x40\x00")  # past the last note, and last
        assert sum(row[0] for row in decoded.tracks[1].rows) == length * ticks
    pressed_last = midigen.write(midigen.detokenize([*tokens, "PEDAL_OFF", "PEDAL_ON"]))
    let_go = midigen.write(midigen.detokenize([*tokens, "PEDAL_OFF"]))
    assert pressed_last == let_go  # pressed where the music stops, it holds nothing
    decoded = midigen.detokenize([*tokens, "PEDAL_OFF"])  # let go already: nothing added
    assert [e.data for e in decoded.tracks[1] if e.status & 0xF0 == 0xB0] == [
        b"\x40\x7f", b"\x40\x00"]  # fmt: skip


def test_hanging_notes_end_with_their_track():
    events = [(0, 0x90, b"\x3c\x40"), (3 * TPQ, 0xFF, b"\x01")]
    tokens = song_to_event_tokens(song(events))
    assert tokens == ["EVENT_24", "BAR", "NOTE_60", "VEL_8", "DUR_72"]


@pytest.mark.parametrize("path", sorted(DATA.glob("*.mid")), ids=lambda p: p.name)
def test_round_trip_keeps_notes(path):
    data = path.read_bytes()
    source = midigen.read(data)
    if not source.ticks_per_beat:
        pytest.skip("pretty_midi cannot read SMPTE divisions")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = source.to_pretty_midi()  # pretty_midi alone refuses RMID, unknown chunks
        decoded = midigen.detokenize(midigen.tokenize(source, "event")).to_pretty_midi()

    def notes(midi):
        return sorted(
            (
                i.is_drum,
                i.program if not i.is_drum else 0,
                n.pitch,
                round(n.start, 2),
                round(n.end, 2),
            )
            for i in midi.instruments
            for n in i.notes
        )

    expected, found = notes(original), notes(decoded)
    assert len(found) == len(expected)
    for (*same, start, end), (*same_found, start_found, end_found) in zip(
        expected, found, strict=True
    ):
        assert same_found == same
        assert abs(start_found - start) <= 0.03 and abs(end_found - end) <= 0.03


def test_any_token_sequence_decodes_to_a_file_where_every_note_ends():
    words = vocabulary() + ["NOTE_999", "VEL_x", "TFINE_77", "garbage", "DUR_", "TIMESIG_0_3"]
    generator = random.Random(1234)
    for _ in range(200):
        tokens = ["EVENT_24"] + generator.choices(words, k=generator.randrange(0, 300))
        decoded, skipped = event_tokens_to_song(tokens)
        assert skipped == len(decoded.warnings)
        data = midigen.write(decoded)
        reread = midigen.read(data, strict=True)
        for track in reread.tracks:
            sounding: dict[tuple[int, int], int] = {}
            for event in track:
                if event.is_note_on:
                    key = (event.channel, event.data[0])
                    sounding[key] = sounding.get(key, 0) + 1
                elif event.is_note_off:
                    key = (event.channel, event.data[0])
                    sounding[key] = sounding.get(key, 0) - 1
            assert all(count == 0 for count in sounding.values())


def test_nonsense_tokens_are_counted_not_raised():
    tokens = ["EVENT_24", "VEL_3", "NOTE_60", "VEL_12", "TFINE_3", "DUR_24", "bogus"]
    decoded, skipped = event_tokens_to_song(tokens)
    assert skipped == 3
    assert [w.offset for w in decoded.warnings] == [1, 4, 6]


def test_notes_are_capped():
    tokens = ["EVENT_24", "NOTE_60", "VEL_12"] + ["DUR_768"] * 5
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(midigen.detokenize(tokens))))
    (piano,) = midi.instruments
    assert piano.notes[0].end == pytest.approx(64 * 0.5)


def test_smpte_songs_use_seconds_at_120_bpm():
    smpte = Song(
        format=0,
        division=0xE728,
        tracks=[
            Track(
                [
                    (0, 0x90, b"\x3c\x40", False),
                    (1000, 0x80, b"\x3c\x00", False),
                    (0, 0xFF, b"\x2f", False),
                ]
            )
        ],
    )  # 25 fps x 40 ticks: 1000 ticks = 1 s = 2 beats
    assert song_to_event_tokens(smpte) == ["EVENT_24", "BAR", "NOTE_60", "VEL_8", "DUR_48"]


def test_a_song_without_a_time_base_cannot_be_tokenized():
    with pytest.raises(midigen.MidiError, match="division is 0"):
        song_to_event_tokens(Song(format=0, division=0, tracks=[Track()]))


def timesig(tick: int, numerator: int, denominator_power: int):
    return (tick, 0xFF, bytes((0x58, numerator, denominator_power, 24, 8)))


def test_a_bar_token_marks_every_bar_line_and_no_rest_crosses_one():
    # 4/4: bar lines every 4 beats; notes on beat 1, in bar 2 (beat 2.5) and in bar 5
    events = note(0, TPQ, 60) + note(5 * TPQ + TPQ // 2, 6 * TPQ, 62) + note(16 * TPQ, 17 * TPQ, 64)
    tokens = song_to_event_tokens(song([timesig(0, 4, 2)], events))
    assert tokens[:3] == ["EVENT_24", "TIMESIG_4_4", "BAR"]
    assert tokens[3:6] == ["NOTE_60", "VEL_12", "DUR_24"]
    assert tokens[6:10] == ["SHIFT_96", "BAR", "SHIFT_36", "NOTE_62"]
    assert tokens.count("BAR") == 5  # bars 1 to 5
    old = song_to_event_tokens(song([timesig(0, 4, 2)], events), bars=False)
    assert "BAR" not in old and old[5:7] == ["SHIFT_96", "SHIFT_36"]  # as before BAR existed
    assert midigen.write(event_tokens_to_song(old)[0]) == midigen.write(
        event_tokens_to_song(tokens)[0]
    )


def test_a_time_signature_starts_a_bar_where_it_stands():
    # 4/4, then 3/4 from beat 6 (mid-bar): bar lines at 0, 4, then 6, 9, 12
    conductor = [timesig(0, 4, 2), timesig(6 * TPQ, 3, 2)]
    events = note(0, TPQ, 60) + note(12 * TPQ, 13 * TPQ, 62)
    tokens = song_to_event_tokens(song(conductor, events))
    cursor = midigen.tokens.grammar.Cursor(bar_lines=True)
    lines = []
    for token in tokens[1:]:
        if token == "BAR":
            lines.append(cursor.step // 24)
        cursor.feed_token(token)
    assert lines == [0, 4, 6, 9, 12]
    at = tokens.index("TIMESIG_3_4")
    assert tokens[at - 1 : at + 2] == ["SHIFT_48", "TIMESIG_3_4", "BAR"]


@pytest.mark.parametrize("name", ["pymidi_mary.mid", "jazzsoft_test-2-tracks-type-2.mid"])
def test_bar_tokens_change_no_note(name):
    parsed = midigen.read(DATA / name)
    with_bars = midigen.write(event_tokens_to_song(song_to_event_tokens(parsed))[0])
    without = midigen.write(event_tokens_to_song(song_to_event_tokens(parsed, bars=False))[0])
    assert with_bars == without


def test_a_bar_off_the_bar_lines_moves_time_to_the_next_one():
    decoded, skipped = event_tokens_to_song(
        "EVENT_24 NOTE_60 VEL_8 DUR_24 SHIFT_30 BAR NOTE_62 VEL_8 DUR_24".split()
    )
    assert skipped == 0
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(decoded)))
    assert sorted(n.start for i in midi.instruments for n in i.notes) == [0.0, 2.0]


def test_a_velocity_table_says_what_each_bin_plays():
    tokens = [grammar.HEADER, "PROGRAM_0", "NOTE_60", "VEL_11", "DUR_24", "SHIFT_24"]
    middle = event_tokens_to_song(tokens)[0]
    table = list(grammar.BIN_MIDDLES)
    table[11] = 90
    played = event_tokens_to_song(tokens, velocities=tuple(table))[0]
    assert [n.velocity for n in song_notes(middle)] == [92]
    assert [n.velocity for n in song_notes(played)] == [90]


def test_music_whose_first_tempo_comes_late_plays_at_120_bpm_from_the_start():
    # a --free continuation of a prime with no tempo event: its model set one at 40 s,
    # and the file had none before it, so `info` and the summary named 46.56 bpm for a
    # piece that plays at 120 until then
    late = song(note(0, 96, 60) + note(4 * TPQ, 5 * TPQ, 62), [tempo(4 * TPQ, 60)])
    assert summarize(late)["tempi_bpm"] == [120, 60]  # what `info` lists
    decoded = event_tokens_to_song(song_to_event_tokens(late))[0]
    assert tempo_changes(decoded.tracks) == [(0, 500_000), (4 * decoded.division, 1_000_000)]
    assert summarize(decoded)["tempi_bpm"] == [120, 60]


@pytest.mark.parametrize(
    ("written", "token", "warned"),
    [
        ((18, 3), "TIMESIG_9_4", False),
        ((20, 4), "TIMESIG_10_8", False),
        ((17, 3), "TIMESIG_16_8", True),
    ],
)
def test_a_meter_beyond_the_vocabulary_keeps_its_bar_length_where_it_can(written, token, warned):
    # 18/8 had become 16/8: its bar lines, and the bars infill --bars counts, drifted
    numerator, power = written
    meter = (0, 0xFF, bytes((0x58, numerator, power, 24, 8)))
    piece = song(note(0, 96, 60) + note(20 * TPQ, 21 * TPQ, 62), [meter])
    tokens = song_to_event_tokens(piece, bars=True)
    assert token in tokens
    assert bool(piece.warnings) == warned
    if not warned:  # a BAR where each written bar begins
        steps = 4 * grammar.STEPS_PER_BEAT * numerator // 2**power
        ends = [grammar.walk(tokens[: k + 1]).step for k, t in enumerate(tokens) if t == "BAR"]
        assert ends[:3] == [0, steps, 2 * steps]


def test_info_lists_the_tempi_a_format_2_file_plays_to():
    # its sequences play to the first one's tempo: another's at tick 0 had hidden its 120
    from dataclasses import replace

    sequences = replace(song(note(0, 96, 60), note(0, 96, 64) + [tempo(0, 90)]), format=2)
    assert summarize(sequences)["tempi_bpm"] == [120]


@pytest.mark.parametrize("step", [0, 24])
def test_a_cut_keeps_what_the_piece_sets_before_its_music(step):
    # an infill of bar 1 cuts at step 0: its candidates had sampled without the style,
    # tempo and meter, to bar lines of 4/4 in a waltz
    from midigen.tokens.event import split_event_tokens

    setting = ["EVENT_24", "STYLE_folk", "TEMPO_1", "TFINE_58", "TFINE_4", "TFINE_32",
               "TIMESIG_3_4", "BAR"]  # fmt: skip
    music = ["PROGRAM_0", "NOTE_60", "VEL_8", "DUR_24", "SHIFT_24", "NOTE_62", "VEL_8", "DUR_24"]
    before, after = split_event_tokens(setting + music, step)
    assert before[: len(setting)] == setting
    assert before + after == setting + music
