"""tokens/grammar.py: the one table of event tokens, its value codecs and the walker."""

from __future__ import annotations

import pytest

from midigen.tokens import grammar
from midigen.tokens.event import event_tokens_to_song, event_tokens_until
from midigen.tokens.grammar import Cursor, Score, parse_token, vocabulary, walk
from midigen.tokens.vocab import Vocab

# Golden ids: every trained model depends on them.
GOLDEN = {
    "<pad>": 0,
    "<eos>": 2,
    "EVENT_24": 3,
    "SHIFT_1": 4,
    "SHIFT_96": 99,
    "PROGRAM_0": 100,
    "NOTE_60": 288,
    "DRUM_36": 392,
    "VEL_0": 484,
    "DUR_0": 500,
    "DUR_96": 596,
    "DUR_120": 597,
    "BAR": 851,
    "DUR_768": 624,
    "PEDAL_ON": 625,
    "PEDAL_OFF": 626,
    "TEMPO_0": 627,
    "TFINE_63": 754,
    "TIMESIG_1_1": 755,
    "TIMESIG_4_4": 775,
    "TIMESIG_16_32": 850,
}


def test_vocabulary_ids_are_pinned():
    vocab = Vocab.fixed(vocabulary())
    assert len(vocab) == 852  # 851 before BAR, which came last so that older ids stand
    assert {token: vocab.ids[token] for token in GOLDEN} == GOLDEN


def test_every_vocabulary_token_parses_back_to_its_name():
    for token in vocabulary():
        kind, value = parse_token(token)
        assert grammar.token_name(kind, value) == token


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("SHIFT_0", "value out of range"),
        ("SHIFT_97", "value out of range"),
        ("NOTE_128", "value out of range"),
        ("VEL_16", "velocity out of place or range"),
        ("VEL_x", "not a number"),
        ("DUR_97", "no such duration"),
        ("TIMESIG_0_4", "value out of range"),
        ("TIMESIG_4_3", "value out of range"),
        ("PEDAL_UP", "value out of range"),
        ("hello", "not an event token"),
    ],
)
def test_bad_tokens_say_why(token, reason):
    with pytest.raises(ValueError, match=reason):
        parse_token(token)


def test_velocity_bins_round_trip_within_their_bin():
    for velocity in range(1, 128):
        back = grammar.bin_velocity(grammar.velocity_bin(velocity))
        assert grammar.velocity_bin(back) == grammar.velocity_bin(velocity)
        assert abs(back - velocity) <= grammar.VELOCITY_BIN_WIDTH


@pytest.mark.parametrize("tempo_us", [1, 500_000, 428_571, 0xFFFFFF, 63, 64])
def test_tempo_digits_round_trip_exactly(tempo_us):
    tokens = grammar.tempo_tokens(tempo_us)
    assert len(tokens) == grammar.TEMPO_DIGITS
    cursor = walk(["EVENT_24", *tokens, "SHIFT_24"])
    assert cursor.tempo_us == tempo_us


@pytest.mark.parametrize("steps", [0, 1, 95, 96, 97, 100, 119, 120, 121, 500, 768, 2000])
def test_duration_tokens_add_up_and_the_walker_reads_them(steps):
    tokens = grammar.duration_tokens(steps)
    score = Score()
    walk(["EVENT_24", "NOTE_60", "VEL_8", *tokens], score)
    assert score.notes[0].length == min(steps, grammar.MAX_NOTE_STEPS)
    assert not score.skipped


@pytest.mark.parametrize("steps", [1, 96, 97, 192, 1000])
def test_shift_tokens_add_up(steps):
    assert walk(["EVENT_24", *grammar.shift_tokens(steps)]).step == steps


def test_the_walker_keeps_time_in_steps_seconds_and_bars():
    tokens = ["EVENT_24", "TIMESIG_3_4", *grammar.tempo_tokens(1_000_000), "SHIFT_72", "SHIFT_36"]
    cursor = walk(tokens)
    assert cursor.step == 108
    assert cursor.seconds == pytest.approx(4.5)  # 4.5 beats at 60 bpm
    assert cursor.bars == pytest.approx(1.5)


def test_lenient_reading_of_misplaced_tokens():
    score = Score()
    walk(
        ["EVENT_24", "VEL_3", "NOTE_60", "TFINE_1", "DUR_12", "DUR_5", "TEMPO_7", "NOTE_62"], score
    )
    reasons = [str(error) for error in score.skipped]
    assert reasons == [
        "skipped 'VEL_3': VEL without a note before it (token 1)",
        "skipped 'TFINE_1': TFINE without TEMPO (token 3)",
    ]
    first, second = score.notes
    assert first.length == 17 and first.velocity == grammar.DEFAULT_VELOCITY
    assert second.length == grammar.STEPS_PER_BEAT  # no DUR: one beat
    assert score.tempi == [(0, 7 << 18 | 32 << 12 | 32 << 6 | 32)]  # cut short: digits mid-range


def test_a_zero_tempo_is_refused_and_the_old_one_kept():
    score = Score()
    cursor = walk(["EVENT_24", "TEMPO_0", "TFINE_0", "TFINE_0", "TFINE_0", "SHIFT_24"], score)
    assert cursor.tempo_us == 500_000 and cursor.seconds == pytest.approx(0.5)
    assert len(score.skipped) == 1 and "a tempo of 0" in str(score.skipped[0])


def test_cursor_expectations_follow_the_table():
    cursor = Cursor()
    assert cursor.expect == grammar.FREE
    for token, expect in [
        ("NOTE_60", grammar.VELOCITY),
        ("VEL_3", grammar.DURATION),
        ("DUR_96", grammar.FREE),
        ("DRUM_36", grammar.VELOCITY),
        ("VEL_3", grammar.DURATION),
        ("DUR_120", grammar.MORE_DURATION),
        ("TEMPO_1", grammar.FINE),
        ("TFINE_1", grammar.FINE),
        ("TFINE_1", grammar.FINE),
        ("TFINE_1", grammar.FREE),
    ]:
        assert cursor.feed_token(token) is None
        assert cursor.expect == expect, token


def test_a_prime_is_cut_at_its_seconds_and_time_moves_on_to_them():
    tokens = ["EVENT_24", "NOTE_60", "VEL_8", "DUR_24", "SHIFT_48", "NOTE_62", "VEL_8", "DUR_24"]
    kept = event_tokens_until(tokens, 0.75)  # 120 bpm: 0.75 s is 36 steps, inside the SHIFT_48
    assert kept == ["EVENT_24", "NOTE_60", "VEL_8", "DUR_24", "SHIFT_36"]
    assert event_tokens_until(tokens, 5.0) == tokens
    assert event_tokens_until([*tokens, "<eos>", "NOTE_1"], 5.0) == tokens


def test_ring_steps_end_notes_near_the_last_step():
    tokens = ["EVENT_24", "NOTE_60", "VEL_8", "DUR_768", "SHIFT_48", "NOTE_62", "VEL_8", "DUR_4"]
    song, _ = event_tokens_to_song(tokens, ring_steps=24)
    ends = sorted(
        (sum(e.delta for e in track[: k + 1]), e.data[0])
        for track in song.tracks[1:]
        for k, e in enumerate(track)
        if e.is_note_off
    )
    ticks_per_step = 480 // 24
    assert ends == [((48 + 4) * ticks_per_step, 62), ((48 + 24) * ticks_per_step, 60)]
