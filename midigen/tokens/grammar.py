"""event tokens -> meaning: the one table of token kinds, and the walker that reads them.

The event scheme (tokens/event.py) writes music as a stream of tokens on a
grid of ``STEPS_PER_BEAT`` steps per quarter note.  Its rules live here and
nowhere else, so that the encoder, the decoder, the sampler's masks, the
prime cut and the tail trim cannot drift apart:

- ``KINDS``: every token kind and its values, in vocabulary order (a token's
  id is its position, so the order is part of every trained model).
- ``velocity_bin``/``bin_velocity``, ``tempo_tokens``/``digits_to_tempo``,
  ``shift_tokens``, ``duration_tokens``: each value codec, both directions.
- ``Cursor``: walks tokens one at a time, keeping musical time (steps,
  seconds, bars, tempo, meter) and what may come next (``FOLLOWERS``).

A piece reads::

    EVENT_24 TEMPO_1 TFINE_58 TFINE_6 TFINE_32 TIMESIG_4_4
    BAR PROGRAM_0 NOTE_60 VEL_12 DUR_24 NOTE_64 VEL_12 DUR_24
    DRUM_36 VEL_14 DUR_0 SHIFT_24 ... SHIFT_48 BAR ...

- ``EVENT_24``: the header; the scheme and its steps per beat.
- ``SHIFT_n`` (n = 1..96): time moves on by n steps (longer rests chain).
- ``NOTE_p`` / ``DRUM_p`` then ``VEL_v`` then one or more ``DUR_d``: a note
  of the current program (or a drum hit on the GM drum channel), velocity bin
  v (16 bins of 8), lasting the sum of the DUR tokens in steps (``DUR_0``:
  shorter than half a step, typical of drums).  Durations carry each note's
  own end, so overlapping notes of one pitch need no note-off matching.
- ``PROGRAM_p``: the GM program of the following notes and pedal events.
- ``PEDAL_ON`` / ``PEDAL_OFF``: the sustain pedal (CC 64) of the current
  program.
- ``TEMPO_a TFINE_b TFINE_c TFINE_d``: a tempo of exactly a, b, c, d as
  base-64 digits of microseconds per quarter note (the 24-bit value of a
  tempo event), so seconds are recovered exactly.
- ``TIMESIG_n_d``: a time signature n/d.
- ``BAR``: a bar begins here.  Bar lines fall every bar of the time
  signature in force, counted from step 0 or from the last TIMESIG, which
  starts a bar wherever it stands; no SHIFT crosses a bar line, and at a
  bar line only tempo and meter come before the BAR.  So the model always
  knows where in the bar it is.  Token files and models from before BAR
  existed have none, and their streams never expect one (``Cursor``'s
  ``bar_lines``); a BAR off a bar line moves time on to the next one.
- ``STYLE_name``: right after the header, the style the piece is in (the
  folder it came from when the dataset was prepared with ``--styles``).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from ..errors import TokenError
from ..midi.smf import DEFAULT_TEMPO_US

STEPS_PER_BEAT = 24  # 16ths (6), 8th triplets (8), 32nds (3) and 16th triplets (4) are exact
HEADER = f"EVENT_{STEPS_PER_BEAT}"
MAX_SHIFT = 4 * STEPS_PER_BEAT  # longer rests chain SHIFT_96 tokens
SHORT_DURATIONS = range(0, MAX_SHIFT + 1)  # DUR_0 .. DUR_96, exact
LONG_DURATIONS = range(5 * STEPS_PER_BEAT, 33 * STEPS_PER_BEAT, STEPS_PER_BEAT)  # 5..32 beats
DURATIONS = (*SHORT_DURATIONS, *LONG_DURATIONS)
MAX_NOTE_STEPS = 64 * STEPS_PER_BEAT  # decoding caps notes at 64 beats
VELOCITY_BINS = 16
VELOCITY_BIN_WIDTH = 128 // VELOCITY_BINS
TIME_SIGNATURE_DENOMINATORS = (1, 2, 4, 8, 16, 32)
TIME_SIGNATURE_NUMERATORS = range(1, 17)  # in the vocabulary; decoding takes up to 255
TEMPO_DIGITS = 4  # base-64 digits: 24 bits, the whole range of a tempo event
TEMPO_DIGIT_BITS = 6
MICROSECONDS = 1e6

# Every token kind and its values, in vocabulary order.
KINDS: dict[str, tuple] = {
    "EVENT": (STEPS_PER_BEAT,),
    "SHIFT": tuple(range(1, MAX_SHIFT + 1)),
    "PROGRAM": tuple(range(128)),
    "NOTE": tuple(range(128)),
    "DRUM": tuple(range(128)),
    "VEL": tuple(range(VELOCITY_BINS)),
    "DUR": DURATIONS,
    "PEDAL": (True, False),  # PEDAL_ON, PEDAL_OFF
    "TEMPO": tuple(range(1 << TEMPO_DIGIT_BITS)),
    "TFINE": tuple(range(1 << TEMPO_DIGIT_BITS)),
    "TIMESIG": tuple(
        (n, d) for n in TIME_SIGNATURE_NUMERATORS for d in TIME_SIGNATURE_DENOMINATORS
    ),
    "BAR": (None,),  # last, so that the ids of models from before it stay the same
}

# Conditioning tokens name what a piece is, not what it plays; they follow the header
# and their values are names, not numbers: STYLE_pop (a style learned from a folder).
STYLE_PREFIX = "STYLE_"


def style_name(text: str) -> str:
    """A style as its token names it: the words of a folder name joined by dashes (a
    token holds no spaces)."""
    return "-".join(text.split())


NAMED_KINDS = ("STYLE",)

# What a stream expects next, and the token kinds that may then come.
FREE, VELOCITY, DURATION, MORE_DURATION, FINE, BAR_LINE = (
    "free",
    "velocity",
    "duration",
    "more_duration",
    "fine",
    "bar_line",
)
FREE_KINDS = ("SHIFT", "PROGRAM", "NOTE", "DRUM", "PEDAL", "TEMPO", "TIMESIG")
FOLLOWERS: dict[str, tuple[str, ...]] = {
    FREE: FREE_KINDS,
    VELOCITY: ("VEL",),  # after NOTE or DRUM
    DURATION: ("DUR",),  # after VEL
    MORE_DURATION: (*FREE_KINDS, "DUR"),  # after a whole-beat DUR (> MAX_SHIFT): a chain
    FINE: ("TFINE",),  # after TEMPO, until it has TEMPO_DIGITS digits
    BAR_LINE: ("TEMPO", "TIMESIG", "BAR"),  # on a bar line before its BAR, with bar_lines
}


def token_name(kind: str, value: object) -> str:
    if kind == "BAR":
        return "BAR"
    if kind == "PEDAL":
        return "PEDAL_ON" if value else "PEDAL_OFF"
    if kind == "TIMESIG":
        return "TIMESIG_{}_{}".format(*value)
    return f"{kind}_{value}"


def has_bar_lines(vocabulary_tokens: Container[str]) -> bool:
    """Whether a model with this vocabulary reads and writes BAR tokens: models from before
    BAR existed have none, and are given tokens without it."""
    return "BAR" in vocabulary_tokens


def vocabulary() -> list[str]:
    """Every event token, in a fixed order (ids are positions in this list)."""
    return [token_name(kind, value) for kind, values in KINDS.items() for value in values]


def parse_token(token: str) -> tuple[str, object]:
    """``"NOTE_60"`` -> ``("NOTE", 60)``.

    Raises:
        ValueError: not an event token, or its value is out of range; the
            message says which.
    """
    if token == "BAR":
        return "BAR", None
    kind, _, text = token.partition("_")
    if kind in NAMED_KINDS:
        if not text:
            raise ValueError("no name")
        return kind, text
    if kind not in KINDS or kind == "BAR":
        raise ValueError("not an event token")
    try:
        if kind == "PEDAL":
            value: object = {"ON": True, "OFF": False}[text]
        elif kind == "TIMESIG":
            numerator, denominator = map(int, text.split("_"))
            if not 1 <= numerator <= 255 or denominator not in TIME_SIGNATURE_DENOMINATORS:
                raise ValueError
            value = (numerator, denominator)
        else:
            value = int(text)
    except (KeyError, ValueError):
        reason = "not a number" if kind in ("VEL", "DUR") else "value out of range"
        raise ValueError(reason) from None
    if kind != "TIMESIG" and value not in KINDS[kind]:
        raise ValueError(_OUT_OF_RANGE.get(kind, "value out of range"))
    return kind, value


_OUT_OF_RANGE = {"VEL": "velocity out of place or range", "DUR": "no such duration"}


# -- value codecs, both directions ----------------------------------------------------------


def velocity_bin(velocity: int) -> int:
    """MIDI velocity 0..127 -> bin 0..15 (bins of 8)."""
    return min(velocity // VELOCITY_BIN_WIDTH, VELOCITY_BINS - 1)


def bin_velocity(bin_: int) -> int:
    """Bin -> the velocity in the middle of it."""
    return min(bin_ * VELOCITY_BIN_WIDTH + VELOCITY_BIN_WIDTH // 2, 127)


BIN_MIDDLES = tuple(bin_velocity(bin_) for bin_ in range(VELOCITY_BINS))


def tempo_tokens(tempo_us: int) -> list[str]:
    """Microseconds per quarter note (24 bits) as TEMPO_a TFINE_b TFINE_c TFINE_d."""
    bits = TEMPO_DIGIT_BITS
    mask = (1 << bits) - 1
    digits = [tempo_us >> (bits * k) & mask for k in reversed(range(TEMPO_DIGITS))]
    return [f"TEMPO_{digits[0]}"] + [f"TFINE_{digit}" for digit in digits[1:]]


def digits_to_tempo(digits: list[int]) -> int:
    """Tempo digits, most significant first -> microseconds per quarter note.

    Missing digits (a tempo cut short) count as the middle of their range.
    """
    middle = 1 << (TEMPO_DIGIT_BITS - 1)
    tempo_us = 0
    for digit in digits + [middle] * (TEMPO_DIGITS - len(digits)):
        tempo_us = tempo_us << TEMPO_DIGIT_BITS | digit
    return tempo_us


def shift_tokens(steps: int) -> list[str]:
    """A rest of ``steps`` as SHIFT_96 tokens and the remainder."""
    return [f"SHIFT_{MAX_SHIFT}"] * (steps // MAX_SHIFT) + (
        [f"SHIFT_{steps % MAX_SHIFT}"] if steps % MAX_SHIFT else []
    )


def duration_tokens(steps: int) -> list[str]:
    """Greedy split: whole beats first (DUR_120 .. DUR_768), the rest exact (DUR_0 .. DUR_96)."""
    if steps <= MAX_SHIFT:
        return [f"DUR_{steps}"]
    parts = []
    steps = min(steps, MAX_NOTE_STEPS)
    while steps > MAX_SHIFT:
        part = min(LONG_DURATIONS[-1], steps - steps % STEPS_PER_BEAT)
        if part < LONG_DURATIONS[0]:
            part = MAX_SHIFT
        parts.append(f"DUR_{part}")
        steps -= part
    if steps:
        parts.append(f"DUR_{steps}")
    return parts


def bar_steps(numerator: int, denominator: int) -> int:
    """Steps in one bar of a time signature."""
    return max(1, numerator * 4 * STEPS_PER_BEAT // denominator)


# -- the walker --------------------------------------------------------------------------------


@dataclass
class Note:
    """A note as the tokens say it, in steps."""

    start: int
    length: int
    pitch: int
    velocity: int
    instrument: int  # program 0..127, or DRUMS


DRUMS = 128  # instrument key for drums, after programs 0..127
DEFAULT_VELOCITY = 64  # a NOTE with no VEL


@dataclass
class Score:
    """What a token stream says, in steps; a Cursor fills it when asked to record."""

    notes: list[Note] = field(default_factory=list)
    tempi: list[tuple[int, int]] = field(default_factory=list)  # (step, microseconds/quarter)
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)  # (step, n, d)
    pedals: list[tuple[int, int, bool]] = field(default_factory=list)  # (step, program, down)
    skipped: list[TokenError] = field(default_factory=list)
    # the velocity each VEL bin stands for: its middle, or what a model's training notes
    # in that bin played most (a constant 90 is then 90, not the bin's middle 92)
    velocities: tuple[int, ...] = BIN_MIDDLES


class Cursor:
    """Where a stream of event tokens stands, fed one token at a time.

    It keeps musical time (``step``, ``seconds``, ``bars``, ``tempo_us``,
    ``bar_steps`` and the bar grid), the current program, and ``expect``:
    the key of ``FOLLOWERS`` naming what may come next.  With ``bar_lines``
    (a stream written with BAR tokens) a bar line not yet marked expects
    its BAR.  ``feed`` is lenient in the way
    decoding needs: a token that cannot stand where it is (a VEL with no note
    before it, a TFINE with no TEMPO) is refused with a reason and changes
    nothing.  The sampler only offers tokens ``expect`` allows, so a sampled
    stream is never refused.  With ``score`` given, the cursor also records
    notes, tempi, signatures and pedal events into it.
    """

    __slots__ = (
        "step",
        "seconds",
        "bars",
        "tempo_us",
        "bar_steps",
        "bar_origin",
        "barred",
        "bar_lines",
        "program",
        "expect",
        "digits",
        "note",
        "note_stage",
        "score",
    )

    def __init__(self, score: Score | None = None, bar_lines: bool = False) -> None:
        self.step = 0
        self.seconds = 0.0
        self.bars = 0.0
        self.tempo_us = DEFAULT_TEMPO_US
        self.bar_steps = bar_steps(4, 4)
        self.bar_origin = 0  # a bar line: step 0, or the last time signature's step
        self.barred = -1  # the step of the last BAR
        self.bar_lines = bar_lines
        self.program = 0
        self.expect = BAR_LINE if bar_lines else FREE
        self.digits: list[int] | None = None  # tempo digits being spelled
        self.note: Note | None = None  # the note waiting for VEL and DUR
        self.note_stage = ""  # "pitch", "velocity" or "duration": what the note last got
        self.score = score

    def seconds_after(self, shift: int) -> float:
        """Where ``SHIFT_<shift>`` would move time to, in seconds."""
        return self.seconds + shift / STEPS_PER_BEAT * self.tempo_us / MICROSECONDS

    @property
    def on_bar_line(self) -> bool:
        return (self.step - self.bar_origin) % self.bar_steps == 0

    @property
    def to_next_bar_line(self) -> int:
        """Steps from here to the next bar line after here."""
        return self.bar_steps - (self.step - self.bar_origin) % self.bar_steps

    def _move(self, steps: int) -> None:
        self.seconds = self.seconds_after(steps)
        self.step += steps
        self.bars += steps / self.bar_steps

    def _free(self) -> str:
        """What comes next when nothing is pending: anything, or first a bar line's BAR."""
        if self.bar_lines and self.barred != self.step and self.on_bar_line:
            return BAR_LINE
        return FREE

    def feed(self, kind: str, value) -> str | None:
        """Move on by one parsed token; return why it cannot stand here, or None."""
        if kind == "TFINE":
            return self._fine_tempo(value)
        if self.digits is not None:
            self._finish_tempo()  # a TEMPO cut short: its missing digits count mid-range
        if kind == "VEL" or kind == "DUR":
            return self._note_detail(kind, value)
        self.finish_note()
        if kind == "SHIFT":
            self._move(value)
        elif kind == "BAR":
            if not self.on_bar_line:
                self._move(self.to_next_bar_line)
            self.barred = self.step
        elif kind == "NOTE" or kind == "DRUM":
            instrument = DRUMS if kind == "DRUM" else self.program
            self.note = Note(self.step, 0, value, DEFAULT_VELOCITY, instrument)
            self.note_stage = "pitch"
            self.expect = VELOCITY
            return None
        elif kind == "PROGRAM":
            self.program = value
        elif kind == "TEMPO":
            self.digits = [value]
            self.expect = FINE
            return None
        elif kind == "TIMESIG":
            self.bar_steps = bar_steps(*value)
            self.bar_origin = self.step
            if self.score is not None:
                self.score.time_signatures.append((self.step, *value))
        elif kind == "PEDAL":
            if self.score is not None:
                self.score.pedals.append((self.step, self.program, value))
        self.expect = self._free()
        return None

    def _fine_tempo(self, digit: int) -> str | None:
        if self.digits is None:
            return "TFINE without TEMPO"
        self.digits.append(digit)
        if len(self.digits) == TEMPO_DIGITS:
            return self._finish_tempo()
        return None

    def _finish_tempo(self) -> str | None:
        tempo_us = digits_to_tempo(self.digits)
        self.digits = None
        self.expect = self._free()
        if not tempo_us:
            return "a tempo of 0"
        self.tempo_us = tempo_us
        if self.score is not None:
            self.score.tempi.append((self.step, tempo_us))
        return None

    def _note_detail(self, kind: str, value: int) -> str | None:
        note = self.note
        if note is None:
            return f"{kind} without a note before it"
        if kind == "VEL":
            if self.note_stage != "pitch":
                return "velocity out of place or range"
            note.velocity = (BIN_MIDDLES if self.score is None else self.score.velocities)[value]
            self.note_stage = "velocity"
            self.expect = DURATION
            return None
        note.length = (note.length if self.note_stage == "duration" else 0) + value
        self.note_stage = "duration"
        self.expect = MORE_DURATION if value > MAX_SHIFT else self._free()
        return None

    def finish_note(self) -> None:
        """Close the open note: one beat if it got no DUR, never more than 64 beats."""
        note = self.note
        if note is None:
            return
        if self.note_stage != "duration":
            note.length = STEPS_PER_BEAT
        note.length = min(note.length, MAX_NOTE_STEPS)
        if self.score is not None:
            self.score.notes.append(note)
        self.note = None
        self.note_stage = ""

    def feed_token(self, token: str) -> str | None:
        """Parse and feed one token; return why it cannot stand here, or None."""
        try:
            kind, value = parse_token(token)
        except ValueError as error:
            kind = token.partition("_")[0]
            # Being out of place is the better reason than a bad value.
            if kind == "TFINE" and self.digits is None:
                reason = "TFINE without TEMPO"
            elif kind in ("VEL", "DUR") and self.note is None:
                reason = f"{kind} without a note before it"
            else:
                reason = str(error)
            self.refuse(kind)
            return reason
        return self.feed(kind, value)

    def refuse(self, kind: str) -> None:
        """A malformed token of ``kind`` still ends what its kind would end.

        Anything but a TFINE ends a tempo being spelled; anything but a VEL,
        DUR or TFINE ends the open note.
        """
        if kind != "TFINE" and self.digits is not None:
            self._finish_tempo()
        if kind not in ("VEL", "DUR", "TFINE"):
            self.finish_note()
            self.expect = self._free()

    def finish(self) -> None:
        """The stream ended: complete a tempo cut short and close the open note."""
        self.refuse("<end>")


def walk(tokens: list[str], score: Score | None = None) -> Cursor:
    """Feed every token to a new Cursor; refused tokens go to ``score.skipped``."""
    cursor = Cursor(score)
    for index, token in enumerate(tokens):
        refused = cursor.feed_token(token)
        if refused and score is not None:
            score.skipped.append(TokenError(f"skipped {token!r}: {refused}", offset=index))
    cursor.finish()
    return cursor
