"""A continuation is its prime's own file up to the cut, then the new notes in its tracks."""

from __future__ import annotations

import io
from pathlib import Path

import mido
import pretty_midi
import pytest

import midigen
from midigen.midi.keys import Key
from midigen.midi.song import Song, is_end_of_track, timed_rows
from midigen.model.continuation import continued
from midigen.tokens.event import event_tokens_until, song_to_event_tokens
from midigen.tokens.grammar import BIN_MIDDLES, tempo_tokens

TPQ = 480  # at 120 bpm: 960 ticks a second, 20 ticks a grid step
CUT_SECONDS = 2.0
CUT = 1920  # the cut's tick


def prime_of(*tracks: list[mido.Message | mido.MetaMessage], file_type: int = 1) -> Song:
    """A file of these tracks (messages with delta times), after a tempo track of 120 bpm
    whose 4/4 at 4 s makes the prime go on past the cut."""
    midi = mido.MidiFile(type=file_type, ticks_per_beat=TPQ)
    conductor = [
        mido.MetaMessage("set_tempo", tempo=500_000),
        mido.MetaMessage("time_signature", time=2 * CUT),
    ]
    midi.tracks.append(mido.MidiTrack(conductor))
    midi.tracks += [mido.MidiTrack(track) for track in tracks]
    data = io.BytesIO()
    midi.save(file=data)
    return midigen.read(data.getvalue())


def continue_with(prime: Song, new: list[str], seconds: float = CUT_SECONDS) -> Song:
    """The prime kept for ``seconds``, continued by the tokens ``new`` and two beats' rest
    (the piece ends at its last time step)."""
    shortened: list[tuple[int, int]] = []
    prompt = event_tokens_until(song_to_event_tokens(prime, False, shortened), seconds)
    song = continued(prime, prompt, [*prompt, *new, "SHIFT_48"], shortened=shortened)
    midigen.read(midigen.write(song), strict=True)  # a file a strict reader takes
    for track in song.tracks:  # each ends with its End of Track, once
        assert [is_end_of_track(row) for row in track.rows].index(True) == len(track) - 1
    return song


def notes(song: Song) -> list[tuple[int, int, int, int, int]]:
    """(track, channel, key, on tick, off tick) of every note, paired as pretty_midi does."""
    found = []
    for index, track in enumerate(song.tracks):
        open_notes: dict[tuple[int, int], list[int]] = {}
        for at, status, data, _ in timed_rows(track):
            if status >= 0xF0 or status & 0xF0 not in (0x80, 0x90):
                continue
            key = (status & 0x0F, data[0])
            if status & 0xF0 == 0x90 and data[1]:
                open_notes.setdefault(key, []).append(at)
            else:
                found += [(index, *key, on, at) for on in open_notes.pop(key, [])]
    return sorted(found, key=lambda note: (note[3], note))


def on(key: int, velocity: int = 80, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=key, velocity=velocity, time=time, channel=channel)


def off(key: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=key, time=time, channel=channel)


def test_everything_before_the_cut_stays_as_it_was():
    # off the grid, ghost-quiet, controllers, a bend, a lyric and a unison in two tracks:
    # all that tokens lose
    melody = [
        mido.MetaMessage("track_name", name="melody"),
        mido.Message("control_change", control=7, value=90),
        mido.Message("control_change", control=10, value=30, time=5),
        on(72, velocity=3, time=2),
        mido.Message("pitchwheel", pitch=0, time=100),
        mido.MetaMessage("lyrics", text="la", time=1),
        off(72, time=600),
        on(67, velocity=77, time=7),
        off(67, time=1000),
        on(74, time=500),  # after the cut: goes
        off(74, time=100),
    ]
    doubled = [
        mido.MetaMessage("track_name", name="doubled"),
        on(67, velocity=101, time=715, channel=1),
        off(67, time=1000, channel=1),
        on(40, time=600, channel=1),  # after the cut: goes
        off(40, time=100, channel=1),
    ]
    prime = prime_of(melody, doubled)
    song = continue_with(prime, ["PROGRAM_0", "NOTE_76", "VEL_9", "DUR_12"])
    for before, after in zip(prime.tracks, song.tracks, strict=True):
        kept = [row for row in timed_rows(before)[:-1] if row[0] < CUT]  # End of Track moves
        assert timed_rows(after)[: len(kept)] == kept
    assert notes(song) == [
        (1, 0, 72, 7, 708),
        (1, 0, 67, 715, 1715),  # a unison: tokens made it one note
        (2, 1, 67, 715, 1715),
        (1, 0, 76, CUT, CUT + 12 * 20),  # in the melody: it plays high
    ]
    assert song.tracks[1][-2].data == bytes((76, 0))
    new_velocity = [e.data[1] for e in song.tracks[1] if e.is_note_on and e.data[0] == 76]
    assert new_velocity == [BIN_MIDDLES[9]]


def test_a_note_held_over_the_cut_rings_until_its_key_is_struck_again():
    piano = [on(60, time=1440), on(64), off(60, time=1440), off(64, time=960)]
    prime = prime_of(piano)
    new = ["SHIFT_24", "NOTE_60", "VEL_8", "DUR_12", "SHIFT_96", "SHIFT_96"]
    assert notes(continue_with(prime, new)) == [
        (1, 0, 60, 1440, 2400),  # struck again a beat after the cut
        (1, 0, 64, 1440, 3840),  # its own end
        (1, 0, 60, 2400, 2640),
    ]
    # a piece that stops sooner stops it: at step 96 + 12 + 48, 3120 ticks
    short = continue_with(prime, ["SHIFT_12", "NOTE_67", "VEL_8", "DUR_12"])
    assert [note[2:] for note in notes(short)] == [
        (60, 1440, 2880),
        (64, 1440, 3120),
        (67, 2160, 2400),
    ]


def test_a_format_2_prime_goes_on_as_format_1_to_its_first_sequences_tempo():
    """timidity plays format 2's sequences one after another: a 60 s continuation of a
    format 2 prime played 152.6 s there, 44.5 s in FluidSynth."""
    sequence = [mido.MetaMessage("set_tempo", tempo=1_000_000)]  # its own 60 bpm
    sequence += [m for key in (60, 62, 64, 65) * 4 for m in (on(key), off(key, time=480))]
    prime = prime_of(sequence, file_type=2)
    song = continue_with(prime, ["NOTE_67", "VEL_8", "DUR_12"])
    assert song.format == 1
    tempi = [
        index
        for index, track in enumerate(song.tracks)
        for _, status, data, _ in timed_rows(track)
        if status == 0xFF and data[0] == 0x51
    ]
    assert tempi == [0]  # the first sequence's 120 bpm rules all, as midigen played it
    assert [note[2] for note in notes(song)][-1] == 67


def test_each_channel_plays_one_instrument_when_the_primes_sequences_share_one():
    # a format 2 prime whose sequences reuse channel 16 for piano in one and strings in
    # another (dwm_m_fight.mid): a new note there would play in the other's sound
    def sequence(channel: int, program: int, keys: list[int]) -> list:
        track = [mido.Message("program_change", channel=channel, program=program)]
        for key in keys:
            track += [on(key, channel=channel), off(key, time=480, channel=channel)]
        return track

    high, low = [72, 74, 76, 77] * 2, [40, 41, 43, 45] * 2
    prime = prime_of(
        sequence(0, 0, high),
        sequence(15, 0, low),
        sequence(14, 48, [k + 7 for k in high]),
        sequence(15, 48, [k + 7 for k in low]),
        file_type=2,
    )
    new = ["PROGRAM_0", "NOTE_41", "VEL_8", "DUR_12", "NOTE_73", "VEL_8", "DUR_12"]
    new += ["PROGRAM_48", "NOTE_48", "VEL_8", "DUR_12", "NOTE_80", "VEL_8", "DUR_12"]
    song = continue_with(prime, new)
    assert song.format == 1  # its sequences played together, as it was continued
    programs: dict[int, set[int]] = {}
    for track in song.tracks:
        for event in track:
            if event.status & 0xF0 == 0xC0:
                programs.setdefault(event.channel, set()).add(event.data[0])
    assert programs == {0: {0}, 15: {0, 48}, 14: {48}}  # the prime's own, as it was
    at_cut = sorted(note[:3] for note in notes(song) if note[3] == CUT)
    prime_at_cut = [(1, 0, 72), (2, 15, 40), (3, 14, 79), (4, 15, 47)]  # kept: on the cut
    assert at_cut == sorted([*prime_at_cut, (1, 0, 41), (1, 0, 73), (3, 14, 48), (3, 14, 80)])


def test_an_instrument_whose_program_came_after_the_cut_gets_it_back():
    piano = [on(60), off(60, time=480)]
    guitar = [
        mido.MetaMessage("track_name", name="guitar"),
        mido.Message("program_change", program=24, channel=2, time=2400),
        on(50, channel=2),
        off(50, time=480, channel=2),
    ]
    song = continue_with(prime_of(piano, guitar), ["PROGRAM_24", "NOTE_52", "VEL_8", "DUR_12"])
    assert len(song.tracks) == 3  # no new track
    events = [(at, status, data) for at, status, data, _ in timed_rows(song.tracks[2])]
    assert events[1:4] == [
        (CUT, 0xC2, bytes((24,))),
        (CUT, 0x92, bytes((52, BIN_MIDDLES[8]))),
        (CUT + 240, 0x82, bytes((52, 0))),
    ]


def test_a_new_instrument_gets_a_track_and_a_channel_of_its_own():
    piano = [on(60), off(60, time=480), on(62, time=2000, channel=1), off(62, time=10, channel=1)]
    song = continue_with(prime_of(piano), ["PROGRAM_40", "NOTE_70", "VEL_8", "DUR_12"])
    assert song.tracks[2].name == "Violin"
    assert [(e.status, e.data) for e in song.tracks[2] if e.status < 0xF0] == [
        (0xC2, bytes((40,))),  # channel 2: the prime plays 1 after the cut
        (0x92, bytes((70, BIN_MIDDLES[8]))),
        (0x82, bytes((70, 0))),
    ]


def test_a_channel_left_bent_is_straightened_before_its_new_notes():
    piano = [mido.Message("pitchwheel", pitch=2000, time=100), on(60), off(60, time=480)]
    song = continue_with(prime_of(piano), ["NOTE_62", "VEL_8", "DUR_12"])
    bends = [(at, data) for at, status, data, _ in timed_rows(song.tracks[1]) if status == 0xE0]
    bent = 2000 + 8192
    assert bends == [(100, bytes((bent & 0x7F, bent >> 7))), (CUT, b"\x00\x40")]


def test_a_pedal_still_down_at_the_end_is_let_go():
    pedal = mido.Message("control_change", control=64, value=127, time=10)
    song = continue_with(
        prime_of([pedal, on(60), off(60, time=480)]), ["NOTE_62", "VEL_8", "DUR_48"]
    )
    pedals = [(at, data[1]) for at, status, data, _ in timed_rows(song.tracks[1]) if status == 0xB0]
    assert pedals == [(10, 127), (CUT + 48 * 20, 0)]
    assert pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(song))).get_end_time() == 3.0


def test_new_tempi_go_in_the_first_track():
    song = continue_with(
        prime_of([on(60), off(60, time=480)]),
        ["SHIFT_24", *tempo_tokens(400_000), "NOTE_62", "VEL_8", "DUR_12"],
    )
    tempi = [
        (at, data) for at, status, data, _ in timed_rows(song.tracks[0]) if data[:1] == b"\x51"
    ]
    assert tempi == [(0, b"\x51\x07\xa1\x20"), (CUT + 480, b"\x51\x06\x1a\x80")]


def test_new_notes_come_after_a_silence_the_tokens_shortened_where_the_file_has_them():
    # from the 4/4 at beat 8 to beat 300, a silence: the tokens keep 256 beats of it, the
    # output all 292
    piano = [on(60), off(60, time=480), on(62, time=299 * TPQ), off(62, time=480)]
    prime = prime_of(piano, [on(64, time=310 * TPQ), off(64, time=480)])
    seconds = (8 + 256 + 2) * 0.5  # 2 beats after the second note, in the tokens' time
    song = continue_with(prime, ["NOTE_67", "VEL_8", "DUR_12"], seconds)
    assert [note[2:4] for note in notes(song)] == [(60, 0), (62, 300 * TPQ), (67, 302 * TPQ)]


def test_a_key_struck_twice_before_the_cut_gets_both_its_note_offs_back():
    # on, on, off, off: players pair them in turn; one note-off for both left a note
    # open in a DAW (symusic's test file 3)
    piano = [on(56, time=1000), on(56, time=500), off(56, time=1000), off(56)]
    song = continue_with(prime_of(piano), ["SHIFT_96"])
    offs = [at for at, status, data, _ in timed_rows(song.tracks[1]) if status & 0xF0 == 0x80]
    assert offs == [2500, 2500]
    assert notes(song) == [(1, 0, 56, 1000, 2500), (1, 0, 56, 1500, 2500)]


def test_a_note_off_after_the_cut_that_pairs_a_note_on_before_it_stays():
    # struck twice and released once before the cut; the second note-off, after it, ends
    # nothing a player hears but pairs the second note-on in a DAW (dwm_s_ONE_ONE_L.mid)
    piano = [on(60, time=100), on(60, time=100), off(60, time=100), off(60, time=2000)]
    song = continue_with(prime_of(piano), ["NOTE_62", "VEL_8", "DUR_12"])
    rows = [(at, status & 0xF0, data[0]) for at, status, data, _ in timed_rows(song.tracks[1])]
    assert rows.count((300, 0x80, 60)) == 1
    assert [row for row in rows if row[0] > 300] == [
        (CUT, 0x90, 62),
        (CUT + 240, 0x80, 62),
        (2300, 0x80, 60),  # where the prime has it
        (2300, 0xF0, 0x2F),
    ]


def test_new_notes_of_one_key_struck_together_are_one_the_longest():
    new = ["NOTE_62", "VEL_4", "DUR_12", "NOTE_62", "VEL_12", "DUR_24", "NOTE_62", "VEL_8", "DUR_6"]
    song = continue_with(prime_of([on(60), off(60, time=480)]), new)
    assert notes(song)[1:] == [(1, 0, 62, CUT, CUT + 24 * 20)]
    assert [e.data for e in song.tracks[1] if e.is_note_on][1:] == [bytes((62, BIN_MIDDLES[12]))]


def test_new_instruments_never_share_a_channel_when_the_prime_leaves_none_free():
    # a format 2 prime whose two sequences play every channel, one with programs and one
    # without (read as pianos), as dwm_m_fight.mid: its new instruments had all gone to
    # channel 1, each program change cutting off the one before
    channels = [c for c in range(16) if c != 9]
    named = [mido.Message("program_change", channel=c, program=c + 1) for c in channels]
    plain = []
    for c in channels:
        named += [on(60, channel=c), off(60, time=10, channel=c)]
        plain += [on(48, channel=c), off(48, time=10, channel=c)]
    prime = prime_of(named, plain, file_type=2)
    new = []
    for program in (5, 0, 70):  # shares its channel, plays on all of them, absent
        new += [f"PROGRAM_{program}", "NOTE_64", "VEL_8", "DUR_24"]
    song = continue_with(prime, [*new, "SHIFT_12", *new])
    events = sorted(
        ((at, status, data) for track in song.tracks for at, status, data, _ in timed_rows(track)),
        key=lambda event: event[0],  # in each track's order, as a player merges them
    )
    program: dict[int, int] = {}
    heard: dict[int, set[int]] = {}  # channel -> programs its new notes play
    for at, status, data in events:
        if status & 0xF0 == 0xC0:
            program[status & 0x0F] = data[0]
        elif status & 0xF0 == 0x90 and data[1] and at >= CUT:
            heard.setdefault(status & 0x0F, set()).add(program[status & 0x0F])
    assert sorted(heard.values(), key=min) == [{0}, {5}, {70}]
    assert sum(1 for *_, n in notes(song) if n >= CUT) == 6


def test_new_instruments_get_channels_of_their_own_where_the_prime_sets_up_every_one():
    # volume on every channel, notes on one: the new instruments had all gone to channel 1
    setup = [mido.Message("control_change", channel=c, control=7, value=100) for c in range(16)]
    prime = prime_of([*setup, on(60), off(60, time=480)])
    new = ["PROGRAM_40", "NOTE_70", "VEL_8", "DUR_12", "PROGRAM_41", "NOTE_72", "VEL_8", "DUR_12"]
    song = continue_with(prime, new)
    played = [
        [(status & 0xF0, status & 0x0F, data[0]) for at, status, data, _ in timed_rows(track)[1:-1]]
        for track in song.tracks[2:]
    ]
    assert played == [
        [(0xC0, 1, 40), (0x90, 1, 70), (0x80, 1, 70)],  # programs where their notes begin
        [(0xC0, 2, 41), (0x90, 2, 72), (0x80, 2, 72)],
    ]


def test_a_silence_the_tokens_shortened_after_the_cut_does_not_move_the_new_notes():
    # from the 4/4 at beat 8 to beat 311, a silence the tokens end at beat 264: a new note
    # past that is as far from the cut as the model put it
    piano = [on(60), off(60, time=480), on(62, time=310 * TPQ), off(62, time=480)]
    song = continue_with(prime_of(piano), [*["SHIFT_96"] * 68, "NOTE_67", "VEL_8", "DUR_12"])
    assert [note[2:4] for note in notes(song)] == [(60, 0), (67, CUT + 272 * TPQ)]


def test_a_held_note_in_another_track_ends_before_a_new_note_of_its_key_begins():
    # both hands on channel 1: the left holds 72 over the cut, the new 72 fits the right
    right = [on(70), off(70, time=480), on(74), off(74, time=480)]
    left = [on(36), off(36, time=480), on(72, time=900), off(72, time=2000)]
    song = continue_with(prime_of(right, left), ["SHIFT_12", "NOTE_72", "VEL_8", "DUR_12"])
    merged = mido.merge_tracks(mido.MidiFile(file=io.BytesIO(midigen.write(song))).tracks)
    now, events = 0, []
    for message in merged:
        now += message.time
        if message.type in ("note_on", "note_off") and message.note == 72:
            events.append((now, message.type, message.velocity))
    assert events == [
        (1380, "note_on", 80),
        (2159, "note_off", 64),  # its own release velocity
        (2160, "note_on", BIN_MIDDLES[8]),
        (2400, "note_off", 0),
    ]


def test_a_note_off_on_the_cut_of_a_kept_note_does_not_end_a_new_note():
    # 60 ends 5 ticks after the cut, and the model strikes 60 on it: the note-off had
    # ended the new note after 5 ticks
    piano = [on(60, time=1000), on(64, time=920), off(60, time=5), off(64, time=475)]
    song = continue_with(prime_of(piano), ["NOTE_60", "VEL_8", "DUR_12"])
    assert [note[2:] for note in notes(song)] == [
        (60, 1000, CUT),
        (60, CUT, CUT + 240),
        (64, CUT, 2400),
    ]


def test_a_key_struck_twice_keeps_its_two_note_offs_where_they_were():
    piano = [on(56, time=1000), on(56, time=500), off(56, time=1000), off(56, time=500)]
    song = continue_with(prime_of(piano), ["SHIFT_96"])
    offs = [at for at, status, data, _ in timed_rows(song.tracks[1]) if status & 0xF0 == 0x80]
    assert offs == [2500, 3000]


def test_a_prime_kept_whole_keeps_its_last_events():
    piano = [
        on(60, time=100),
        mido.Message("note_off", note=60, velocity=64, time=480),
        mido.Message("pitchwheel", pitch=0, time=20),
        mido.MetaMessage("marker", text="the end", time=200),
    ]
    prime = prime_of(piano)
    shortened: list[tuple[int, int]] = []
    prompt = event_tokens_until(song_to_event_tokens(prime, False, shortened), 10.0)
    song = continued(prime, prompt, [*prompt, "SHIFT_12", "NOTE_62", "VEL_8", "DUR_12"], whole=True)
    rows = timed_rows(song.tracks[1])
    assert rows[:4] == timed_rows(prime.tracks[1])[:4]  # the release velocity too
    assert (800, 0xFF, b"\x06the end", False) in rows


def test_a_meta_event_readers_refuse_is_left_out():
    broken = mido.MetaMessage("text", text="x")  # made a 9-sharp key signature below
    prime = prime_of([broken, on(60), off(60, time=480)])
    index = next(k for k, row in enumerate(prime.tracks[1].rows) if row[2][:1] == b"\x01")
    prime.tracks[1][index] = (0, 0xFF, b"\x59\x09\x00", False)
    song = continue_with(prime, ["NOTE_62", "VEL_8", "DUR_12"])  # reads strictly
    assert b"\x59\x09\x00" not in [row[2] for row in song.tracks[1].rows]
    mido.MidiFile(file=io.BytesIO(midigen.write(song)))


def test_new_pedal_events_go_once_to_a_channel_two_tracks_share():
    pedal = mido.Message("control_change", control=64, value=0)
    right = [on(84), off(84, time=480)]
    left = [pedal, on(48), off(48, time=480)]
    new = [
        "PEDAL_ON",
        "NOTE_50",
        "VEL_8",
        "DUR_12",
        "SHIFT_24",
        "PEDAL_OFF",
        "NOTE_52",
        "VEL_8",
        "DUR_12",
    ]
    song = continue_with(prime_of(right, left), new)
    pedals = [
        (index, at, data[1])
        for index, track in enumerate(song.tracks)
        for at, status, data, _ in timed_rows(track)
        if status == 0xB0 and at >= CUT
    ]
    assert pedals == [(2, CUT, 127), (2, CUT + 480, 0)]


def test_a_continuation_of_a_bare_prime_has_a_tempo_and_a_meter_at_the_start():
    midi = mido.MidiFile(type=0, ticks_per_beat=TPQ)
    midi.tracks.append(mido.MidiTrack([on(60), off(60, time=480), on(62, time=3000), off(62)]))
    data = io.BytesIO()
    midi.save(file=data)
    song = continue_with(midigen.read(data.getvalue()), ["NOTE_64", "VEL_8", "DUR_12"])
    assert song.format == 0
    assert timed_rows(song.tracks[0])[:2] == [
        (0, 0xFF, b"\x51\x07\xa1\x20", False),
        (0, 0xFF, b"\x58\x04\x02\x18\x08", False),
    ]


def test_the_model_can_lift_a_pedal_it_plays_no_new_notes_under():
    pedal = mido.Message("control_change", control=64, value=127, time=1000)
    piano = [pedal, on(60), off(60, time=2000)]
    song = continue_with(prime_of(piano), ["PEDAL_OFF", "PROGRAM_40", "NOTE_70", "VEL_8", "DUR_12"])
    pedals = [(at, data[1]) for at, status, data, _ in timed_rows(song.tracks[1]) if status == 0xB0]
    assert pedals == [(1000, 127), (CUT, 0)]  # lifted where the model lifted it


def test_a_prime_kept_whole_leaves_its_last_controllers_out_of_the_new_music():
    # a fade and "all notes off" after the last note: kept, they muted the new notes
    midi = mido.MidiFile(type=0, ticks_per_beat=TPQ)
    midi.tracks.append(
        mido.MidiTrack(
            [
                on(60),
                off(60, time=480),
                mido.Message("control_change", control=7, value=0, time=480),
                mido.Message("control_change", control=123, value=0),
            ]
        )
    )
    data = io.BytesIO()
    midi.save(file=data)
    prime = midigen.read(data.getvalue())
    prompt = event_tokens_until(song_to_event_tokens(prime, False), 10.0)
    song = continued(prime, prompt, [*prompt, "SHIFT_12", "NOTE_62", "VEL_8", "DUR_12"], whole=True)
    assert not [row for row in timed_rows(song.tracks[0]) if row[1] == 0xB0]


def test_events_just_before_a_cut_in_a_rest_stay():
    # a bend set 2 ticks before the cut, which the tokens put on the cut's step
    bend = mido.Message("pitchwheel", pitch=1000, time=CUT - 2)
    song = continue_with(prime_of([on(60), off(60, time=0), bend, on(64, time=1000)]), [], 1.999)
    assert (CUT - 2, 0xE0) in [(at, status) for at, status, _, _ in timed_rows(song.tracks[1])]


def test_new_meters_go_where_the_primes_meter_rules():
    # the prime's 3/4 lives in its second track: a new meter in the first hid it from
    # every reader that takes the first track's meter for the song's
    waltz = [mido.MetaMessage("time_signature", numerator=3), on(60), off(60, time=480)]
    new = ["SHIFT_24", "TIMESIG_6_8", "NOTE_62", "VEL_8", "DUR_12"]
    song = continue_with(prime_of(waltz), new)
    meters = [
        (index, at, data[1])
        for index, track in enumerate(song.tracks)
        for at, status, data, _ in timed_rows(track)
        if data[:1] == b"\x58"
    ]
    assert meters == [(1, 0, 3), (1, CUT + 480, 6)]


def d_major_scale() -> list[mido.Message]:
    """D major up, three times over, four notes a beat: 16 notes before the cut, as many
    as a key is told from."""
    track = []
    for key in [62, 64, 66, 67, 69, 71, 73, 74] * 3:
        track += [on(key), off(key, time=TPQ // 4)]
    return track


def key_signatures(song: Song) -> list[tuple[int, int, bytes]]:
    return [
        (index, at, data[1:])
        for index, track in enumerate(song.tracks)
        for at, status, data, _ in timed_rows(track)
        if status == 0xFF and data[:1] == b"\x59"
    ]


def continue_in(prime: Song, key: str) -> Song:
    shortened: list[tuple[int, int]] = []
    prompt = event_tokens_until(song_to_event_tokens(prime, False, shortened), CUT_SECONDS)
    new = [*prompt, "NOTE_69", "VEL_8", "DUR_12", "SHIFT_48"]
    return continued(prime, prompt, new, shortened=shortened, key=Key.parse(key))


def test_a_continuation_in_another_key_is_notated_in_it_from_the_cut():
    # a prime in D major with no key signature, continued in A minor: the prime is spelled
    # in D (2 sharps), the new music in A minor (none) from the cut
    song = continue_in(prime_of(d_major_scale()), "Am")
    d_major, a_minor = b"\x02\x00", b"\x00\x01"
    assert key_signatures(song) == [
        (0, 0, d_major),
        (0, CUT, a_minor),
        (1, 0, d_major),
        (1, CUT, a_minor),
    ]


def test_a_continuation_in_its_primes_key_needs_no_new_signature():
    signed = [mido.MetaMessage("key_signature", key="D"), *d_major_scale()]
    song = continue_in(prime_of(signed), "D")
    assert key_signatures(song) == [(1, 0, b"\x02\x00")]


def test_a_prime_timed_in_smpte_frames_is_continued_in_beats_at_its_own_seconds():
    # 25 frames of 40 ticks a second: the continuation is a file of beats, which DAWs
    # and pretty_midi read (pretty_midi misreads the prime), each kept note at its second,
    # and a new tempo sounds (SMPTE time had dropped it)
    prime = midigen.read(Path(__file__).parent / "data" / "crafted_smpte_division.mid")
    shortened: list[tuple[int, int]] = []
    prompt = event_tokens_until(song_to_event_tokens(prime, False, shortened), 2.0)
    new = [*prompt, *tempo_tokens(400_000), "NOTE_62", "VEL_8", "DUR_24", "SHIFT_48"]
    song = continued(prime, prompt, new, shortened=shortened)
    assert song.ticks_per_beat == 480
    heard = pretty_midi.PrettyMIDI(io.BytesIO(midigen.write(song)))
    starts = sorted(note.start for instrument in heard.instruments for note in instrument.notes)
    kept = sorted(
        at / 1000  # 1,000 ticks a second
        for track in prime.tracks
        for at, status, data, _ in timed_rows(track)
        if status & 0xF0 == 0x90 and data[1] and at < 2000
    )
    assert [round(start, 3) for start in starts[: len(kept)]] == kept
    # the prime lasts 0.26 s: the new note follows it, and the new tempo plays
    assert len(starts) == len(kept) + 1 and starts[-1] > kept[-1]
    assert heard.get_end_time() == pytest.approx(starts[-1] + 0.4)  # a beat at 150 bpm
