"""Song <-> event tokens: the musical scheme models learn from, all tracks merged in time.

A piece reads as a stream of musical events on a grid of 24 steps per beat
(a quarter note), so 16ths (6 steps), 8th-note triplets (8 steps), 32nds and
16th triplets are exact, and any onset lands within a quarter of a 1/12-beat
step of where it was (half of a 1/24-beat step)::

    EVENT_24 TEMPO_1 TFINE_58 TFINE_6 TFINE_32 TIMESIG_4_4
    PROGRAM_0 NOTE_60 VEL_12 DUR_24 NOTE_64 VEL_12 DUR_24
    DRUM_36 VEL_14 DUR_0 SHIFT_24 ...

- ``EVENT_24``: the header; the scheme and its steps per beat.
- ``SHIFT_n`` (n = 1..96): time moves on by n steps (longer rests chain).
- ``NOTE_p`` / ``DRUM_p`` then ``VEL_v`` then one or more ``DUR_d``: a note
  of the current program (or a drum hit on the GM drum channel), velocity bin
  v (16 bins of 8), lasting the sum of the DUR tokens in steps (``DUR_0``:
  shorter than half a step, typical of drums).  Durations carry each note's
  own end, so overlapping notes of one pitch need no note-off matching.
- ``PROGRAM_p``: the GM program of the following notes and pedal events.
- ``PEDAL_ON`` / ``PEDAL_OFF``: the sustain pedal (CC 64) of the current
  program, kept as tokens: note ends stay where the file put them.
- ``TEMPO_a TFINE_b TFINE_c TFINE_d``: a tempo of exactly a, b, c, d as
  base-64 digits of microseconds per quarter note (the 24-bit value of the
  file), so seconds are recovered exactly.  Tempo events count only in the
  first track, where SMF 1.0 puts a format 1 file's tempo map (pretty_midi
  reads them the same way).
- ``TIMESIG_n_d``: a time signature n/d.

Within one step events come in a fixed order: tempo, time signature, then
pedal and notes grouped by instrument (programs ascending, drums last),
pitches ascending.  Everything else in the file (other controllers, pitch
bend, lyrics, sysex) is left out: this scheme is for modelling; use the
chunk scheme to keep every byte.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise

from ..errors import TokenError
from ..midi.gm import DRUM_CHANNEL, program_name
from ..midi.song import META, SET_TEMPO, TIME_SIGNATURE, Song, Track
from ..midi.timing import TempoMap

STEPS_PER_BEAT = 24
HEADER = f"EVENT_{STEPS_PER_BEAT}"
MAX_SHIFT = 4 * STEPS_PER_BEAT
SHORT_DURATIONS = range(0, MAX_SHIFT + 1)  # DUR_0 .. DUR_96, exact
LONG_DURATIONS = range(5 * STEPS_PER_BEAT, 33 * STEPS_PER_BEAT, STEPS_PER_BEAT)  # 5..32 beats
MAX_NOTE_STEPS = 64 * STEPS_PER_BEAT  # decoding caps notes at 64 beats
VELOCITY_BINS = 16
TIME_SIGNATURE_DENOMINATORS = (1, 2, 4, 8, 16, 32)
TEMPO_DIGITS = 4  # base-64 digits: 24 bits, the whole range of a tempo event
DRUMS = 128  # instrument key for drums, after programs 0..127
SUSTAIN = 64
OUTPUT_TPQ = 480  # ticks per quarter of decoded files: 20 ticks per step


def vocabulary() -> list[str]:
    """Every event token, in a fixed order (ids are positions in this list)."""
    tokens = [HEADER]
    tokens += [f"SHIFT_{n}" for n in range(1, MAX_SHIFT + 1)]
    tokens += [f"PROGRAM_{p}" for p in range(128)]
    tokens += [f"NOTE_{p}" for p in range(128)]
    tokens += [f"DRUM_{p}" for p in range(128)]
    tokens += [f"VEL_{v}" for v in range(VELOCITY_BINS)]
    tokens += [f"DUR_{d}" for d in (*SHORT_DURATIONS, *LONG_DURATIONS)]
    tokens += ["PEDAL_ON", "PEDAL_OFF"]
    tokens += [f"TEMPO_{d}" for d in range(64)]
    tokens += [f"TFINE_{d}" for d in range(64)]
    tokens += [f"TIMESIG_{n}_{d}" for n in range(1, 17) for d in TIME_SIGNATURE_DENOMINATORS]
    return tokens


_SHIFT = [f"SHIFT_{n}" for n in range(MAX_SHIFT + 1)]
_PROGRAM = [f"PROGRAM_{p}" for p in range(128)]
_NOTE = [f"NOTE_{p}" for p in range(128)]
_DRUM = [f"DRUM_{p}" for p in range(128)]
_VELOCITY = [f"VEL_{min(v >> 3, VELOCITY_BINS - 1)}" for v in range(128)]
_DURATION = {d: f"DUR_{d}" for d in (*SHORT_DURATIONS, *LONG_DURATIONS)}


# -- encoding -------------------------------------------------------------------


def song_to_event_tokens(song: Song) -> list[str]:
    """The song's notes, tempi, time signatures and pedal as event tokens.

    Notes are paired per track, channel and key the way pretty_midi does it:
    a note-off ends every open note of its key begun at an earlier tick.
    Notes still open at the end of their track end there.

    Raises:
        MidiError: the song has no usable time base (division 0 or a broken
            SMPTE rate), so beats cannot be known.
    """
    scale = _step_scale(song)
    a, b, c = scale

    def to_step(tick: int) -> int:
        return (tick * a + b) // c

    events: list[tuple] = []  # (step, group, instrument, pitch, value, length)
    conductor: list[tuple[int, bytes]] = []  # (tick, data) of first-track tempo and signatures
    for index, track in enumerate(song.tracks):
        _collect_track(track, scale, events, conductor if index == 0 else None)
    signatures = {
        to_step(tick): _time_signature(data)
        for tick, data in conductor
        if data[0] == TIME_SIGNATURE and len(data) == 5
    }
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
    return _events_to_tokens(events)


def _time_signature(data: bytes) -> tuple[int, int]:
    return min(max(data[1], 1), 16), 1 << min(data[2], 5)


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
_CONDUCTOR = (SET_TEMPO, TIME_SIGNATURE)


def _collect_track(
    track: Track,
    scale: tuple[int, int, int],
    events: list[tuple],
    conductor: list[tuple[int, bytes]] | None,
) -> None:
    """Append the track's notes and pedal events; collect conductor events if asked.

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
            down = data[1] >= 64
            if down != pedal_down[channel] and channel != DRUM_CHANNEL:
                pedal_down[channel] = down
                add(((tick * a + b) // c, _PLAYED, programs[channel], -1, down, 0))
        elif status == META and conductor is not None and data[0] in _CONDUCTOR:
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


def _events_to_tokens(events: list[tuple]) -> list[str]:
    tokens = [HEADER]
    add = tokens.append
    now = 0
    program = 0
    last_tempo = None
    for step, group, instrument, pitch, value, length in events:
        if step > now:
            gap = step - now
            while gap > MAX_SHIFT:
                add(_SHIFT[MAX_SHIFT])
                gap -= MAX_SHIFT
            add(_SHIFT[gap])
            now = step
        if group == _PLAYED:
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
    return tokens


def duration_tokens(steps: int) -> list[str]:
    """Greedy split: whole beats first (DUR_120 .. DUR_768), the rest exact (DUR_0 .. DUR_96)."""
    if steps <= MAX_SHIFT:
        return [_DURATION[steps]]
    parts = []
    steps = min(steps, MAX_NOTE_STEPS)
    while steps > MAX_SHIFT:
        part = min(LONG_DURATIONS[-1], steps - steps % STEPS_PER_BEAT)
        if part < LONG_DURATIONS[0]:
            part = MAX_SHIFT
        parts.append(_DURATION[part])
        steps -= part
    if steps:
        parts.append(_DURATION[steps])
    return parts


def tempo_tokens(tempo_us: int) -> list[str]:
    """Microseconds per quarter note (24 bits) as TEMPO_a TFINE_b TFINE_c TFINE_d."""
    return [
        f"TEMPO_{tempo_us >> 18 & 63}",
        f"TFINE_{tempo_us >> 12 & 63}",
        f"TFINE_{tempo_us >> 6 & 63}",
        f"TFINE_{tempo_us & 63}",
    ]


# -- decoding -------------------------------------------------------------------


@dataclass
class _Note:
    start: int  # steps
    length: int  # steps
    pitch: int
    velocity: int
    instrument: int  # program, or DRUMS


@dataclass
class _Score:
    """What the tokens say, in steps, before it becomes MIDI."""

    notes: list[_Note]
    tempi: list[tuple[int, int]]  # (step, microseconds per quarter)
    time_signatures: list[tuple[int, int, int]]  # (step, numerator, denominator)
    pedals: list[tuple[int, int, bool]]  # (step, program, down)
    skipped: list[TokenError]


def event_tokens_to_song(tokens: list[str]) -> tuple[Song, int]:
    """Decode any token sequence into a playable song; also return how many tokens were skipped.

    Tokens that make no sense where they stand (a VEL with no note before
    it, a TFINE without TEMPO, an unknown word...) are skipped and counted;
    each is also listed in ``song.warnings``.  Every note ends: a note
    without DUR lasts one beat, and no note lasts longer than 64 beats.
    """
    score = _parse(tokens)
    song = _score_to_song(score)
    song.warnings = list(score.skipped)
    return song, len(score.skipped)


class _Parser:
    """A small state machine over the tokens; one method per token kind."""

    def __init__(self) -> None:
        self.score = _Score([], [], [], [], [])
        self.now = 0
        self.program = 0
        self.note: _Note | None = None  # the note waiting for VEL / DUR
        self.stage = ""  # "", "pitch", "velocity", "duration"
        self.tempo: list[int] | None = None  # bytes of a tempo being spelled
        self.index = 0

    def skip(self, token: str, why: str) -> None:
        self.score.skipped.append(TokenError(f"skipped {token!r}: {why}", offset=self.index))

    def finish_note(self) -> None:
        note = self.note
        if note is not None:
            if self.stage != "duration":
                note.length = STEPS_PER_BEAT
            note.length = min(note.length, MAX_NOTE_STEPS)
            self.score.notes.append(note)
        self.note = None
        self.stage = ""

    def finish_tempo(self, token: str) -> None:
        if self.tempo is not None:
            tempo_us = 0
            for digit in self.tempo + [32] * (TEMPO_DIGITS - len(self.tempo)):  # mid-bin
                tempo_us = tempo_us << 6 | digit
            if tempo_us:
                self.score.tempi.append((self.now, tempo_us))
            else:
                self.skip(token, "a tempo of 0")
        self.tempo = None

    def feed(self, token: str) -> None:
        kind, _, value = token.partition("_")
        if kind == "TFINE":
            return self.fine_tempo(token, value)
        self.finish_tempo(token)
        if kind in ("VEL", "DUR"):
            return self.note_detail(token, kind, value)
        self.finish_note()
        handler = _HANDLERS.get(kind)
        if handler is None:
            return self.skip(token, "not an event token")
        try:
            handler(self, value)
        except (ValueError, IndexError):
            self.skip(token, "value out of range")

    def fine_tempo(self, token: str, value: str) -> None:
        if self.tempo is None or len(self.tempo) == TEMPO_DIGITS:
            return self.skip(token, "TFINE without TEMPO")
        try:
            self.tempo.append(_byte(value, 10, 64))
        except ValueError:
            self.skip(token, "value out of range")

    def note_detail(self, token: str, kind: str, value: str) -> None:
        if self.note is None:
            return self.skip(token, f"{kind} without a note before it")
        try:
            amount = int(value)
        except ValueError:
            return self.skip(token, "not a number")
        if kind == "VEL":
            if self.stage != "pitch" or not 0 <= amount < VELOCITY_BINS:
                return self.skip(token, "velocity out of place or range")
            self.note.velocity = min(amount * 8 + 4, 127)
            self.stage = "velocity"
        elif amount in _DURATION:
            self.note.length = (self.note.length if self.stage == "duration" else 0) + amount
            self.stage = "duration"
        else:
            self.skip(token, "no such duration")

    def shift(self, value: str) -> None:
        steps = int(value)
        if not 1 <= steps <= MAX_SHIFT:
            raise ValueError
        self.now += steps

    def program_change(self, value: str) -> None:
        self.program = _byte(value, 10, 128)

    def note_on(self, value: str, instrument: int | None = None) -> None:
        pitch = _byte(value, 10, 128)
        self.note = _Note(
            self.now, 0, pitch, 64, self.program if instrument is None else instrument
        )
        self.stage = "pitch"

    def drum(self, value: str) -> None:
        self.note_on(value, DRUMS)

    def pedal(self, value: str) -> None:
        if value not in ("ON", "OFF"):
            raise ValueError
        self.score.pedals.append((self.now, self.program, value == "ON"))

    def tempo_start(self, value: str) -> None:
        self.tempo = [_byte(value, 10, 64)]

    def time_signature(self, value: str) -> None:
        numerator, denominator = map(int, value.split("_"))
        if not 1 <= numerator <= 255 or denominator not in TIME_SIGNATURE_DENOMINATORS:
            raise ValueError
        self.score.time_signatures.append((self.now, numerator, denominator))

    def header(self, value: str) -> None:
        if value != str(STEPS_PER_BEAT):
            raise ValueError


_HANDLERS = {
    "SHIFT": _Parser.shift,
    "PROGRAM": _Parser.program_change,
    "NOTE": _Parser.note_on,
    "DRUM": _Parser.drum,
    "PEDAL": _Parser.pedal,
    "TEMPO": _Parser.tempo_start,
    "TIMESIG": _Parser.time_signature,
    "EVENT": _Parser.header,
}


def _byte(text: str, base: int, limit: int = 256) -> int:
    value = int(text, base)
    if not 0 <= value < limit:
        raise ValueError(text)
    return value


def _parse(tokens: list[str]) -> _Score:
    parser = _Parser()
    for parser.index, token in enumerate(tokens):
        parser.feed(token)
    parser.finish_tempo("<end>")
    parser.finish_note()
    return parser.score


# -- score -> MIDI ---------------------------------------------------------------

TICKS_PER_STEP = OUTPUT_TPQ // STEPS_PER_BEAT
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


def _score_to_song(score: _Score) -> Song:
    """A type-1 file: a conductor track, then one named track per instrument voice.

    Notes of one instrument that overlap on the same key go to separate voice
    tracks on the instrument's channel, so that no reader pairs a note-off
    with the wrong note-on.  Each instrument has a channel of its own (drums
    on channel 10) up to 15 instruments; more than that share channels.
    """
    song = Song(format=1, division=OUTPUT_TPQ, tracks=[_conductor(score)])
    voices = _assign_voices(score.notes)
    melodic = sorted({instrument for instrument, _ in voices if instrument != DRUMS})
    channel_of = {
        instrument: MELODIC_CHANNELS[k % len(MELODIC_CHANNELS)]
        for k, instrument in enumerate(melodic)
    }
    channel_of[DRUMS] = DRUM_CHANNEL
    for (instrument, voice), notes in voices.items():
        pedals = (
            []
            if instrument == DRUMS or voice
            else [(step, down) for step, program, down in score.pedals if program == instrument]
        )
        song.tracks.append(
            _instrument_track(instrument, voice, channel_of[instrument], notes, pedals)
        )
    return song


def _assign_voices(notes: list[_Note]) -> dict[tuple[int, int], list[_Note]]:
    """Group notes by instrument, opening a new voice only for same-key overlaps."""
    voices: dict[tuple[int, int], list[_Note]] = {}
    busy_until: dict[tuple[int, int, int], int] = {}  # (instrument, voice, pitch) -> end step
    for note in sorted(notes, key=lambda n: (n.instrument, n.start, n.pitch)):
        voice = 0
        while busy_until.get((note.instrument, voice, note.pitch), -1) > note.start:
            voice += 1
        busy_until[(note.instrument, voice, note.pitch)] = note.start + max(note.length, 1)
        voices.setdefault((note.instrument, voice), []).append(note)
    return dict(sorted(voices.items()))


def _conductor(score: _Score) -> Track:
    timed = [
        (step * TICKS_PER_STEP, 0, bytes((META, SET_TEMPO)) + tempo_us.to_bytes(3, "big"))
        for step, tempo_us in score.tempi
    ]
    for step, numerator, denominator in score.time_signatures:
        data = bytes((TIME_SIGNATURE, min(numerator, 255), denominator.bit_length() - 1, 24, 8))
        timed.append((step * TICKS_PER_STEP, 0, bytes((META,)) + data))
    if not score.tempi:
        timed.append((0, 0, bytes((META, SET_TEMPO)) + (500_000).to_bytes(3, "big")))
    timed.sort(key=lambda item: item[0])
    return Track(_delta_rows([(tick, META, data[1:]) for tick, _, data in timed], name="midigen"))


def _instrument_track(
    instrument: int, voice: int, channel: int, notes: list[_Note], pedals: list[tuple[int, bool]]
) -> Track:
    name = program_name(0, DRUM_CHANNEL) if instrument == DRUMS else program_name(instrument)
    if voice:
        name += f" ({voice + 1})"
    timed: list[tuple[int, int, int, bytes]] = []  # (tick, order, status, data)
    for note in notes:
        start = note.start * TICKS_PER_STEP
        end = start + max(note.length * TICKS_PER_STEP, 1)  # DUR_0: one tick
        timed.append((start, 2, 0x90 | channel, bytes((note.pitch, note.velocity))))
        timed.append((end, 0, 0x80 | channel, bytes((note.pitch, 0))))
    for step, down in pedals:
        timed.append(
            (step * TICKS_PER_STEP, 1, 0xB0 | channel, bytes((SUSTAIN, 127 if down else 0)))
        )
    timed.sort(key=lambda item: (item[0], item[1]))
    head = [(0, 0xC0 | channel, bytes((instrument,)))] if instrument != DRUMS else []
    return Track(_delta_rows(head + [(t, s, d) for t, _, s, d in timed], name=name))


def _delta_rows(timed: list[tuple[int, int, bytes]], name: str) -> list[tuple]:
    """Absolute (tick, status, data) -> delta rows, with a track name and End of Track."""
    rows: list[tuple] = [(0, META, b"\x03" + name.encode("latin-1", "replace"), False)]
    now = 0
    for tick, status, data in timed:
        rows.append((tick - now, status, data, status < 0xF0))
        now = tick
    rows.append((0, META, b"\x2f", False))
    return rows
