"""Song <-> event tokens: the musical scheme models learn from, all tracks merged in time.

A piece is a stream of musical events on a grid of 24 steps per beat; what
each token means, and what may follow it, is tokens/grammar.py's to say.
Encoding pairs note-ons with note-offs per track, channel and key (as
pretty_midi does), snaps onsets and ends to the grid (within half a step),
and keeps tempo exactly: a tempo change between grid steps is re-timed so
that it lands on its original second.  The tempo and time signatures that
count are those ``midi.timing.ruling_conductor`` names (a format 1 file's
tempo events in any track, as players read them).

Within one step events come in a fixed order: tempo, time signature, the
BAR of a bar line, then pedal and notes grouped by instrument (programs
ascending, drums last), pitches ascending.  Rests are split at bar lines,
so that a BAR marks each one (``bars=False`` writes the tokens of before
BAR existed, for models whose vocabulary lacks it).  Everything else in
the file (other controllers, pitch bend, lyrics, sysex) is left out: this
scheme is for modelling; use the chunk scheme to keep every byte.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise

from ..errors import MidiError, count
from ..midi.gm import DRUM_CHANNEL, program_name
from ..midi.smf import (
    DEFAULT_TEMPO_US,
    END_OF_TRACK,
    META,
    SET_TEMPO,
    TIME_SIGNATURE,
    TRACK_NAME,
    meter_data,
    tempo_data,
)
from ..midi.song import Song, Track, delta_rows
from ..midi.timing import CONDUCTOR, TempoMap, ruling_conductor
from .grammar import (
    BIN_MIDDLES,
    DRUMS,
    HEADER,
    MAX_SHIFT,
    MICROSECONDS,
    STEPS_PER_BEAT,
    TIME_SIGNATURE_DENOMINATORS,
    TIME_SIGNATURE_NUMERATORS,
    Cursor,
    Note,
    Score,
    bar_steps,
    duration_tokens,
    shift_tokens,
    tempo_tokens,
    velocity_bin,
    walk,
)
from .vocab import EOS

SUSTAIN = 64  # the sustain pedal's controller
PEDAL_DOWN = 64  # and the value from which it holds (General MIDI)
MAX_VOICES_PER_KEY = 16  # notes of one key of one instrument sounding at once
MAX_REST_STEPS = 256 * STEPS_PER_BEAT  # longer silences are cut to 64 bars of 4/4
OUTPUT_TPQ = 480  # ticks per quarter of decoded files: 20 ticks per step

_SHIFT = [f"SHIFT_{n}" for n in range(MAX_SHIFT + 1)]
_PROGRAM = [f"PROGRAM_{p}" for p in range(128)]
_NOTE = [f"NOTE_{p}" for p in range(128)]
_DRUM = [f"DRUM_{p}" for p in range(128)]
_VELOCITY = [f"VEL_{velocity_bin(v)}" for v in range(128)]
_DURATION = [f"DUR_{d}" for d in range(MAX_SHIFT + 1)]


# -- encoding -------------------------------------------------------------------


def song_to_event_tokens(
    song: Song, bars: bool = True, shortened: list[tuple[int, int]] | None = None
) -> list[str]:
    """The song's notes, tempi, time signatures, bar lines and pedal as event tokens.

    Notes are paired per track, channel and key the way pretty_midi does it:
    a note-off ends every open note of its key begun at an earlier tick.
    Notes still open at the end of their track end there.

    A silence of more than MAX_REST_STEPS (64 bars of 4/4) is cut to that
    length, so that a crafted delta time cannot make millions of tokens; each
    cut is added to ``song.warnings`` as a repair, and to ``shortened`` (if given)
    as (the step of the tokens where the music after it starts, the steps cut):
    what ``file_step`` needs to find the file's steps again.

    Raises:
        MidiError: the song has no usable time base (division 0 or a broken
            SMPTE rate), so beats cannot be known.
    """
    scale = _step_scale(song)
    to_step = grid_step(song)

    events: list[tuple] = []  # (step, group, instrument, pitch, value, length)
    found: list[list[tuple[int, bytes]]] = [[] for _ in song.tracks]  # tempo and meter events
    for index, track in enumerate(song.tracks):
        _collect_track(track, scale, events, found[index])
    conductor = [(tick, data) for tick, _, data in ruling_conductor(song, found)]
    signatures, reshaped = {}, []
    for tick, data in conductor:
        if data[0] == TIME_SIGNATURE and len(data) == 5:
            numerator, denominator = signatures[to_step(tick)] = _time_signature(data)
            if numerator << data[2] != max(data[1], 1) * denominator:  # bars of another length
                reshaped.append(f"{data[1]}/{1 << data[2]} as {numerator}/{denominator}")
    if reshaped:
        song.warnings.append(
            MidiError(
                f"time signature {', '.join(dict.fromkeys(reshaped))} in the event tokens, "
                f"which hold up to {TIME_SIGNATURE_NUMERATORS[-1]} beats of 1/1 to "
                f"1/{TIME_SIGNATURE_DENOMINATORS[-1]} notes"
            )
        )
    events += [(step, _TIME_SIGNATURE, 0, 0, value, 0) for step, value in signatures.items()]
    if song.ticks_per_beat:  # SMPTE ticks are seconds already: no tempo to keep
        tempi = [
            (tick, int.from_bytes(data[1:4], "big"))
            for tick, data in conductor
            if data[0] == SET_TEMPO and len(data) == 4 and data[1:4] != b"\0\0\0"
        ]
        grid = _grid_tempi(tempi, song.ticks_per_beat, to_step)
        events += [(step, _TEMPO, 0, 0, tempo_us, 0) for step, tempo_us in grid.items()]
    events.sort()
    rests: list[tuple[int, int]] = []
    tokens = _events_to_tokens(events, rests, bars)
    if shortened is not None:
        shortened += [(step, gap - MAX_REST_STEPS) for step, gap in rests]
    if rests:
        longest = max(gap for _, gap in rests) / STEPS_PER_BEAT
        song.warnings.append(
            MidiError(
                f"{count(len(rests), 'silence')} of up to {longest:,.0f} beats shortened to "
                f"{MAX_REST_STEPS // STEPS_PER_BEAT} beats in the event tokens"
            )
        )
    return tokens


def _time_signature(data: bytes) -> tuple[int, int]:
    """A time signature meta event's n/d as the vocabulary has it: both halved while they
    are even and do not fit (18/8 is 9/4, 20/16 is 10/8: bars as long, so that bar lines
    and infill's --bars count the written bars), else clamped (17/8 is 16/8)."""
    numerator, denominator = max(data[1], 1), 1 << data[2]
    most, deepest = TIME_SIGNATURE_NUMERATORS[-1], TIME_SIGNATURE_DENOMINATORS[-1]
    while (numerator > most or denominator > deepest) and numerator % 2 == 0 and denominator > 1:
        numerator, denominator = numerator // 2, denominator // 2
    return min(numerator, most), min(denominator, deepest)


def _grid_tempi(tempi: list[tuple[int, int]], tpq: int, to_step) -> dict[int, int]:
    """Tempo per grid step, chosen so that every tempo change lands on its original second.

    A tempo change between grid steps moves to the nearest step; keeping its
    value would shift every later note by a little, and many such changes
    add up.  So each segment between two changes gets the tempo that makes
    it last exactly as long as the same stretch of beats in the original.
    When changes sit on the grid (the usual case) that is the original tempo.
    """
    by_step: dict[int, int] = {}
    for tick, tempo_us in sorted(tempi, key=lambda item: item[0]):
        by_step[to_step(tick)] = tempo_us
    steps = sorted(by_step)
    original = _Seconds(sorted(tempi, key=lambda item: item[0]), tpq)
    ticks_per_step = tpq / STEPS_PER_BEAT
    grid = {}
    for here, after in pairwise(steps):
        seconds = original(after * ticks_per_step) - original(here * ticks_per_step)
        grid[here] = round(seconds * 1e6 * STEPS_PER_BEAT / (after - here))
    if steps:
        grid[steps[-1]] = by_step[steps[-1]]
    return {step: min(max(tempo_us, 1), 0xFFFFFF) for step, tempo_us in grid.items()}


class _Seconds:
    """Seconds at a (fractional) tick under a list of (tick, tempo) changes."""

    def __init__(self, tempi: list[tuple[int, int]], tpq: int) -> None:
        self.ticks, self.seconds, self.rates = [0], [0.0], [0.5 / tpq]  # 120 bpm until told
        for tick, tempo_us in tempi:
            start = self(tick)
            if tick == self.ticks[-1]:
                self.rates[-1] = tempo_us / 1e6 / tpq
            else:
                self.ticks.append(tick)
                self.seconds.append(start)
                self.rates.append(tempo_us / 1e6 / tpq)

    def __call__(self, tick: float) -> float:
        k = bisect_right(self.ticks, tick) - 1
        return self.seconds[k] + (tick - self.ticks[k]) * self.rates[k]


def grid_step(song: Song) -> Callable[[int], int]:
    """The song's ticks to the grid steps its event tokens are on (rounded half up).

    Raises:
        MidiError: the song has no usable time base.
    """
    a, b, c = _step_scale(song)
    return lambda tick: (tick * a + b) // c


def file_step(shortened: list[tuple[int, int]], step: int) -> int:
    """A step of a song's event tokens as a step of the song: later by every silence the
    tokens shortened before it (``song_to_event_tokens``'s ``shortened``)."""
    return step + sum(cut for ends, cut in shortened if ends <= step)


def ticks_per_step(song: Song) -> float:
    """The song's ticks per grid step (``grid_step``'s scale), to turn steps back into ticks.

    Raises:
        MidiError: the song has no usable time base.
    """
    a, _, c = _step_scale(song)
    return c / a


def _step_scale(song: Song) -> tuple[int, int, int]:
    """(a, b, c) with step = (tick * a + b) // c: ticks to grid steps, rounded half up.

    Integer arithmetic keeps the rounding exact; SMPTE ticks are absolute
    time, read as beats at 120 bpm (29 fps is 29.97 drop-frame).
    """
    if song.ticks_per_beat:
        return 2 * STEPS_PER_BEAT, song.ticks_per_beat, 2 * song.ticks_per_beat
    TempoMap(song)  # raises for a zero division or an impossible SMPTE rate
    fps, ticks_per_frame = song.smpte
    per_second = (2997 if fps == 29 else 100 * fps) * ticks_per_frame  # ticks per 100 s
    # steps = ticks / per_second * 100 s * 2 beats/s * STEPS_PER_BEAT
    return 400 * STEPS_PER_BEAT, per_second, 2 * per_second


# Sort groups within one step.
_TEMPO, _TIME_SIGNATURE, _PLAYED = 0, 1, 2


def _collect_track(
    track: Track,
    scale: tuple[int, int, int],
    events: list[tuple],
    conductor: list[tuple[int, bytes]],
) -> None:
    """Append the track's notes and pedal events, and its tempo and time signatures to
    ``conductor``.

    Flattened for speed (scripts/bench_tokenize.py): a note-off that ends the
    one note open on its key, nearly every note, is handled in the loop.
    """
    a, b, c = scale
    programs = [0] * 16
    open_notes: dict[int, list[tuple[int, int]]] = {}  # channel << 7 | key -> [(tick, vel)]
    pedal_down = [False] * 16
    tick = 0
    add = events.append
    for delta, status, data, _ in track.rows:
        tick += delta
        kind = status & 0xF0  # meta and sysex give 0xF0
        if kind == 0x90 and data[1]:
            key = (status & 0x0F) << 7 | data[0]
            waiting = open_notes.get(key)
            if waiting is None:
                open_notes[key] = [(tick, data[1])]
            else:
                waiting.append((tick, data[1]))
        elif kind == 0x80 or kind == 0x90:
            key = (status & 0x0F) << 7 | data[0]
            waiting = open_notes.get(key)
            if not waiting:
                continue
            if len(waiting) == 1 and waiting[0][0] != tick:
                start, velocity = waiting.pop()
                channel = status & 0x0F
                on = (start * a + b) // c
                instrument = DRUMS if channel == DRUM_CHANNEL else programs[channel]
                add((on, _PLAYED, instrument, data[0], velocity, max((tick * a + b) // c - on, 0)))
            else:
                _close(waiting, tick, status & 0x0F, data[0], programs, scale, add)
        elif kind == 0xC0:
            programs[status & 0x0F] = data[0]
        elif kind == 0xB0 and data[0] == SUSTAIN:
            channel = status & 0x0F
            down = data[1] >= PEDAL_DOWN
            if down != pedal_down[channel] and channel != DRUM_CHANNEL:
                pedal_down[channel] = down
                add(((tick * a + b) // c, _PLAYED, programs[channel], -1, down, 0))
        elif status == META and data[0] in CONDUCTOR:
            conductor.append((tick, data))
    for key, waiting in open_notes.items():
        if waiting:  # hanging notes end with their track
            _close(waiting, tick, key >> 7, key & 0x7F, programs, scale, add, hanging=True)


def _close(
    waiting: list[tuple[int, int]],
    end: int,
    channel: int,
    pitch: int,
    programs: list[int],
    scale: tuple[int, int, int],
    add,
    hanging: bool = False,
) -> None:
    """End the open notes of one key, as pretty_midi does: all of them, except those
    begun on this very tick (a note-on and note-off on one tick keep the note open)."""
    a, b, c = scale
    instrument = DRUMS if channel == DRUM_CHANNEL else programs[channel]
    kept = []
    for start, velocity in waiting:
        if start == end and not hanging:
            kept.append((start, velocity))
            continue
        on = (start * a + b) // c
        add((on, _PLAYED, instrument, pitch, velocity, max((end * a + b) // c - on, 0)))
    waiting[:] = kept


def _events_to_tokens(events: list[tuple], rests: list[tuple[int, int]], bars: bool) -> list[str]:
    """The sorted events as tokens; silences longer than MAX_REST_STEPS are cut to it and
    listed in ``rests`` (the step of the tokens where each ends, its steps in the song), so
    that tokens grow with the notes, not with the time.

    With ``bars`` a BAR marks every bar line up to the last event: rests are
    split there, and a bar line's BAR comes after its tempo and meter, so
    that a time signature off the old grid starts a bar where it stands.
    """
    tokens = [HEADER]
    add = tokens.append
    now = 0  # in the tokens' time: event steps less the silences cut
    cut = 0
    program = 0
    last_tempo = None
    origin, bar_length, barred = 0, bar_steps(4, 4), -1  # the bar grid, as grammar.Cursor keeps it
    for step, group, instrument, pitch, value, length in events:
        step -= cut
        if step > now:
            gap = step - now
            if gap > MAX_REST_STEPS:
                cut += gap - MAX_REST_STEPS
                step = now + MAX_REST_STEPS
                rests.append((step, gap))
                gap = MAX_REST_STEPS
            if bars:
                line = now + (-(now - origin) % bar_length)
                while line < step:  # bar lines inside the rest (the one at `step` waits)
                    if line != barred:
                        tokens += shift_tokens(line - now)
                        add("BAR")
                        now = barred = line
                    line += bar_length
                gap = step - now
            if gap <= MAX_SHIFT:
                add(_SHIFT[gap])
            elif gap:
                tokens += shift_tokens(gap)
            now = step
        if group == _PLAYED:
            if bars and barred != now and not (now - origin) % bar_length:
                add("BAR")
                barred = now
            if instrument != DRUMS and instrument != program:
                add(_PROGRAM[instrument])
                program = instrument
            if pitch < 0:
                add("PEDAL_ON" if value else "PEDAL_OFF")
                continue
            add(_DRUM[pitch] if instrument == DRUMS else _NOTE[pitch])
            add(_VELOCITY[value])
            if length <= MAX_SHIFT:
                add(_DURATION[length])
            else:
                tokens += duration_tokens(length)
        elif group == _TEMPO:
            if value != last_tempo:
                tokens += tempo_tokens(value)
                last_tempo = value
        else:
            add("TIMESIG_{}_{}".format(*value))
            origin, bar_length = now, bar_steps(*value)
    return tokens


# -- decoding -------------------------------------------------------------------


def event_tokens_to_song(
    tokens: list[str],
    ring_steps: int | None = None,
    restrike: bool = False,
    velocities: tuple[int, ...] = BIN_MIDDLES,
) -> tuple[Song, int]:
    """Decode any token sequence into a playable song; also return how many tokens were skipped.

    Tokens that make no sense where they stand (a VEL with no note before
    it, a TFINE without TEMPO, an unknown word...) are skipped and counted;
    each is also listed in ``song.warnings``.  Every note ends: a note
    without DUR lasts one beat, and no note lasts longer than 64 beats.
    Overlapping notes of one key of one instrument are all kept, on extra
    voice tracks.  Two options tidy generated pieces: with ``ring_steps`` no
    note rings on more than that many steps past the last time step (pieces
    end near their length); with ``restrike`` a key struck again ends the
    note it interrupts, and notes of one key that start together are one,
    so every instrument is one track in a DAW.  ``velocities`` gives the
    velocity each VEL bin stands for (a model's, see dataset.velocity_table);
    by default a bin is its middle.
    """
    score = Score(velocities=velocities)
    end = walk(tokens, score).step
    if ring_steps is not None:
        for note in score.notes:
            note.length = min(note.length, max(end + ring_steps - note.start, 0))
    song = _score_to_song(score, restrike, end)
    song.warnings = [*score.skipped, *song.warnings]
    return song, len(score.skipped)


# -- score -> MIDI ---------------------------------------------------------------

TICKS_PER_STEP = OUTPUT_TPQ // STEPS_PER_BEAT
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


def _score_to_song(score: Score, restrike: bool, end_step: int) -> Song:
    """A type-1 file: a conductor track, then one named track per instrument voice.

    Each instrument has a channel of its own (drums on channel 10) up to 15
    instruments; more than that share channels.  The conductor track lasts
    at least to ``end_step``, so that a piece ending in a rest (a generated
    16 bars whose last note ends early) is still that long in a DAW.
    """
    song = Song(format=1, division=OUTPUT_TPQ, tracks=[_conductor(score, end_step)])
    dropped: list[Note] = []
    voices = _restruck(score.notes) if restrike else _voices(score.notes, dropped)
    if dropped:
        song.warnings.append(
            MidiError(
                f"{count(len(dropped), 'note')} left out: more than {MAX_VOICES_PER_KEY} "
                "of one key of one instrument sounding at once"
            )
        )
    melodic = sorted({instrument for instrument, _ in voices if instrument != DRUMS})
    channel_of = {
        instrument: MELODIC_CHANNELS[k % len(MELODIC_CHANNELS)]
        for k, instrument in enumerate(melodic)
    }
    channel_of[DRUMS] = DRUM_CHANNEL
    for (instrument, voice), notes in sorted(voices.items()):
        pedals = (
            []
            if instrument == DRUMS or voice
            else [(step, down) for step, program, down in score.pedals if program == instrument]
        )
        song.tracks.append(
            _instrument_track(instrument, voice, channel_of[instrument], notes, pedals, end_step)
        )
    return song


def _voices(notes: list[Note], dropped: list[Note]) -> dict[tuple[int, int], list[Note]]:
    """Every note kept: notes by instrument, a new voice (track) only for same-key overlaps.

    One key of one channel sounds once at a time (a note-off would end both
    copies), so an overlapping note of the same key goes to the lowest voice
    free at its start.  Heaps keep this linear in the notes (times a log),
    however many notes pile up on one key; a note that would need more than
    MAX_VOICES_PER_KEY voices goes to ``dropped`` instead.
    """
    voices: dict[tuple[int, int], list[Note]] = {}
    free: dict[tuple[int, int], list[int]] = defaultdict(list)  # (instrument, pitch) -> voices
    busy: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)  # -> (end, voice)
    opened: dict[tuple[int, int], int] = defaultdict(int)
    for note in sorted(notes, key=lambda n: (n.instrument, n.start, n.pitch)):
        key = (note.instrument, note.pitch)
        while busy[key] and busy[key][0][0] <= note.start:
            heapq.heappush(free[key], heapq.heappop(busy[key])[1])
        if free[key]:
            voice = heapq.heappop(free[key])
        elif opened[key] < MAX_VOICES_PER_KEY:
            voice, opened[key] = opened[key], opened[key] + 1
        else:
            dropped.append(note)
            continue
        heapq.heappush(busy[key], (note.start + max(note.length, 1), voice))
        voices.setdefault((note.instrument, voice), []).append(note)
    return voices


def _restruck(notes: list[Note]) -> dict[tuple[int, int], list[Note]]:
    """One voice per instrument: a key struck again ends the note it interrupts.

    A note that starts while the same key still sounds ends the earlier note
    there, as a player restrikes a key, and notes of one key that start
    together are one note, the longest.
    """
    voices: dict[tuple[int, int], list[Note]] = {}
    sounding: dict[tuple[int, int], Note] = {}  # (instrument, pitch) -> its latest note
    for note in sorted(notes, key=lambda n: (n.instrument, n.start, n.pitch, -n.length)):
        earlier = sounding.get((note.instrument, note.pitch))
        if earlier is not None:
            if earlier.start == note.start:
                continue
            earlier.length = min(earlier.length, note.start - earlier.start)
        sounding[(note.instrument, note.pitch)] = note
        voices.setdefault((note.instrument, 0), []).append(note)
    return voices


def _conductor(score: Score, end_step: int) -> Track:
    rows = [(step * TICKS_PER_STEP, META, tempo_data(tempo_us)) for step, tempo_us in score.tempi]
    rows += [
        (step * TICKS_PER_STEP, META, meter_data(numerator, denominator))
        for step, numerator, denominator in score.time_signatures
    ]
    if not any(step == 0 for step, _ in score.tempi):
        # Until a first tempo, players take 120 bpm (SMF 1.0); say so, or a DAW and a
        # summary take the first tempo written (bars later, in a --free continuation) for it.
        rows.append((0, META, tempo_data(DEFAULT_TEMPO_US)))
    if not any(step == 0 for step, _, _ in score.time_signatures):
        # With no meter, notation programs guess one; say 4/4, as SMF 1.0 assumes.
        rows.append((0, META, meter_data(4, 4)))
    rows.sort(key=lambda row: row[0])
    return Track(_delta_rows(rows, name="midigen", end_tick=end_step * TICKS_PER_STEP))


def _instrument_track(
    instrument: int,
    voice: int,
    channel: int,
    notes: list[Note],
    pedals: list[tuple[int, bool]],
    end_step: int,
) -> Track:
    """The track of one instrument voice: its program, notes and pedal.  A pedal still
    down when the music stops is let go at the track's end, where the last note has
    ended and the piece too: a DAW that loops the file, or plays the next one on that
    channel, would otherwise hold every note after it."""
    name = program_name(0, DRUM_CHANNEL) if instrument == DRUMS else program_name(instrument)
    if voice:
        name += f" ({voice + 1})"
    timed: list[tuple[int, int, int, bytes]] = []  # (tick, order, status, data)
    for note in notes:
        start = note.start * TICKS_PER_STEP
        end = start + max(note.length * TICKS_PER_STEP, 1)  # DUR_0: one tick
        timed.append((start, 2, 0x90 | channel, bytes((note.pitch, note.velocity))))
        timed.append((end, 0, 0x80 | channel, bytes((note.pitch, 0))))
    end = max([end_step * TICKS_PER_STEP, *(tick for tick, *_ in timed)])
    while pedals and pedals[-1][1] and pedals[-1][0] * TICKS_PER_STEP >= end:
        pedals = pedals[:-1]  # pressed where the music stops: it holds nothing
    for step, down in pedals:
        timed.append(
            (step * TICKS_PER_STEP, 1, 0xB0 | channel, bytes((SUSTAIN, 127 if down else 0)))
        )
    if pedals and pedals[-1][1]:
        timed.append((end, 3, 0xB0 | channel, bytes((SUSTAIN, 0))))
    timed.sort(key=lambda item: (item[0], item[1]))
    head = [(0, 0xC0 | channel, bytes((instrument,)))] if instrument != DRUMS else []
    return Track(_delta_rows(head + [(t, s, d) for t, _, s, d in timed], name=name))


def _delta_rows(timed: list[tuple[int, int, bytes]], name: str, end_tick: int = 0) -> list[tuple]:
    """Absolute (tick, status, data) -> delta rows, with a track name and End of Track (at
    the last event, or at ``end_tick`` if that is later)."""
    end = max([end_tick, *(tick for tick, _, _ in timed)])
    named = bytes((TRACK_NAME,)) + name.encode("latin-1", "replace")
    return [(0, META, named, False)] + delta_rows(
        [(tick, status, data, status < 0xF0) for tick, status, data in timed]
        + [(end, META, bytes((END_OF_TRACK,)), False)]
    )


def event_tokens_until(tokens: list[str], seconds: float) -> list[str]:
    """The tokens of a piece up to ``seconds``, the header included (what a prime keeps).

    When the piece goes on past ``seconds``, time is moved on to that point,
    so whatever follows starts after the kept part.  ``<eos>`` ends the piece.
    """
    cursor = Cursor()
    kept = tokens[:1]
    for token in tokens[1:]:
        if token == EOS:
            break
        shift = _SHIFT_STEPS.get(token)
        if shift and cursor.seconds_after(shift) > seconds + 1e-9:
            remaining = (seconds - cursor.seconds) * MICROSECONDS / cursor.tempo_us
            kept += shift_tokens(round(remaining * STEPS_PER_BEAT))
            break
        cursor.feed_token(token)
        kept.append(token)
    return kept


_SHIFT_STEPS = {f"SHIFT_{n}": n for n in range(1, MAX_SHIFT + 1)}
_SETTINGS = ("STYLE", "TEMPO", "TFINE", "TIMESIG", "BAR")  # token kinds set before music


def split_event_tokens(tokens: list[str], step: int) -> tuple[list[str], list[str]]:
    """A piece cut at a time step: (the header and everything before ``step``, the rest).

    The first part ends with time moved on to ``step``; the rest holds what
    sounds from ``step`` on, starting with what is left of a rest that
    crossed it, so the two parts follow each other as the whole piece did.
    Cut at step 0, the first part keeps what the piece sets before its music (a
    style, the tempo, the meter, the first bar line): an infill of bar 1 had
    sampled without them, to bar lines of 4/4 in a waltz.
    """
    if step <= 0:
        index = 1
        while index < len(tokens) and tokens[index].partition("_")[0] in _SETTINGS:
            index += 1
        return tokens[:index], tokens[index:]
    cursor = Cursor()
    for index in range(1, len(tokens)):
        token = tokens[index]
        if token == EOS:
            break
        shift = _SHIFT_STEPS.get(token)
        if shift and cursor.step + shift >= step:
            after = shift_tokens(cursor.step + shift - step) + tokens[index + 1 :]
            return tokens[:index] + shift_tokens(step - cursor.step), after
        cursor.feed_token(token)
    else:
        index = len(tokens)
    return tokens[:index] + shift_tokens(max(step - cursor.step, 0)), []


def event_seconds(tokens: list[str]) -> float:
    """How long event tokens last, to their last time step."""
    return walk(tokens).seconds
