"""weights + prime -> event tokens: sampling streams that always decode to playable music.

The network runs in NumPy (model/stepper.py).  Before each draw the sampler
masks the tokens that cannot come next: what the grammar allows after the
last token (tokens/grammar.py: a NOTE is followed by its VEL and a DUR, a
TEMPO by its TFINE digits), and a few limits of its own that keep the music
playable and a model from getting stuck: notes inside their instrument's
range (midi/gm.py), a first note within the first beat, no more than a
handful of notes on one step, no more than a band's worth of instruments,
no rest across a bar line (a model with BAR tokens), tempo and meter set
once at the start (as nearly all real pieces do), a tempo between 38 and
229 bpm and a common meter (never a one-beat bar: POP909's files say 1/4,
which no musician writes, and a model's long tail holds 15/2), no more
than two pedal changes a step (a release, then a press), no
``<eos>`` before the requested length, and no note or rest running past
it (a 16-bar piece is 16 bars long in a DAW).  A model that learned styles
saw one right after the header, so a stream started from the header alone
may draw its style there, as the model would (and a prime's style is the one
under which the model finds the prime likeliest: ``likeliest_style``).
And it keeps a key: once a stream has played a few notes (its prime's, or
its own) it estimates their key, and notes outside that key's scale become
much less likely, so that the music does not wander.  It keeps a pulse
the same way: notes start on the 16ths and 8th triplets of the written
beat, or of the prime's pulse when its music sits off the written grid, so
that a model that learned from loosely timed files (POP909's notes sit a
step either side of the beat) does not drift against the bar lines.  Each
stream aims at the opening of a piece of its style drawn at random
(data/openings.py: its mean pitch, its reach below and above it, its rate
of notes and how many start together, its ensemble, each at a rank of its
own, and one velocity where the style keeps one), or at its prime's (an
infill's candidates: at the music's on both sides of the span), so
that the music neither roams nor comes out all alike; an ensemble's
instruments that fall silent are brought back (a continuation's: those
heard in its prime), so that it plays together instead of handing the
tune on; a continuation cut in a one-off bar goes back to its prime's
meter at the next bar line; an instrument that sounds one note at a
time (a bass, a trumpet, a clarinet) seldom strikes two together, and a
bass keeps below the harmony; and in its last two bars it leans to its
key's tonic triad, so that it ends on its tonic instead of stopping
mid-phrase.
And each instrument the musician names is brought in: its programs lean
until it has played, and again when it falls silent.  The decoder
(tokens/event.py) then ends every note and caps its length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count, pairwise

import numpy as np

from ..data.openings import (
    INSTRUMENTS,
    KEY_SHARE,
    MEAN_PITCH,
    MIN_NOTES,
    NOTES_PER_ONSET,
    NOTES_PER_SECOND,
    PITCHED,
    REACH_ABOVE,
    REACH_BELOW,
    VELOCITY_BINS,
)
from ..errors import MidiError
from ..midi.gm import (
    FAMILIES,
    GM_DRUM_KEYS,
    KIT,
    MOST_AT_ONCE,
    ONE_LINE,
    PROGRAM_RANGES,
    Instruments,
)
from ..midi.keys import ALL_KEYS, Key, fitting_key
from ..tokens.grammar import (
    BAR_LINE,
    DRUMS,
    DURATION,
    FINE,
    FOLLOWERS,
    FREE,
    HEADER,
    MAX_SHIFT,
    MICROSECONDS,
    MORE_DURATION,
    NAMED_KINDS,
    STEPS_PER_BEAT,
    STYLE_PREFIX,
    VELOCITY,
    Cursor,
    has_bar_lines,
    parse_token,
)
from ..tokens.vocab import EOS, Vocab
from .stepper import Stepper, ThreadTuned

LAST_ONSET_STEPS = STEPS_PER_BEAT // 2  # a piece only rests in its last 8th
MAX_ONSETS_PER_STEP = 12  # notes starting together; more is a model stuck in place
MAX_PROGRAMS = 8  # instruments in one piece (drums aside): a band, not a channel sweep
# logit bias for a named instrument's programs (or the kit's notes) until it has played a
# note: strong, for a model that learned a style of one instrument would never bring in a
# second (piano,bass,strings: all three in 0 of 24 pieces at 0, 6 at 4, 16 at 6), and brief
BRING_IN = 6.0
# and again once it has not been heard (its last note ended) this long, twice as strongly
# this much longer: a model of one instrument's style plays the named ones one after
# another, each for a long stretch, unless they are called back soon.  The share of 4-s
# windows in which every named instrument sounds (scripts/bench_control.py, 16 pieces a
# set), called back 8 beats after the last note's start (16 more for twice the lean), and
# with these: piano,bass,strings 35% -> 85%, guitar,drums 48% -> 91%,
# flute,clarinet,bassoon 75% -> 95%; mean OA 0.795 -> 0.763, 0.731 -> 0.734, 0.762 -> 0.758
# (with STACKED_LINE since: 74%, 91%, 95%; mean OA 0.786, 0.734, 0.754)
NAMED_BRING_BACK_STEPS = 2 * STEPS_PER_BEAT
NAMED_LONG_SILENCE_STEPS = 4 * STEPS_PER_BEAT
# an instrument of a style's ensemble (or of a continuation's prime) is brought back (by
# BRING_IN) after a longer silence: a quartet's parts rest for bars at a time.  Each
# instrument of a piece sounds in a mean share of its 4-s windows (32 pieces of 32 s a
# style, against the training files), called back after 16 beats and after 8: band 67%
# -> 74% (real 74%), classical 82% -> 85% (real 99%), mean OA 0.751 -> 0.749 and 0.701
# -> 0.694 (noise)
BRING_BACK_STEPS = 8 * STEPS_PER_BEAT
# and once back (it plays again after that silence, called or not), for a phrase it is
# called back, as strongly as it was, whenever not heard for a beat: called for one hit,
# a band's drums went quiet again at once and played a lone hit every 8-10 beats (a Mr.
# Blue Sky continuation: 29 drum notes in 30 s, now 85, the song 233)
RETURN_PHRASE_STEPS = 16 * STEPS_PER_BEAT
PHRASE_GAP_STEPS = STEPS_PER_BEAT
# and with twice the lean once silent this much longer: a model settled into one
# instrument's groove gives a program change a few thousandths of a chance a step
LONG_SILENCE_STEPS = 16 * STEPS_PER_BEAT
# a prime's instrument leans back in by BRING_IN more for each BRING_BACK_STEPS of
# silence, up to this many times: the model may all but refuse one it rarely saw (a
# banjo that played 55% of m2j_smwwd1's prime sat 28 logits below the likeliest token
# and played no note after the cut in 4 of 6 seeds)
PRIME_CALL_MOST = 5
# when a key is asked, its tonic's notes lean by TONIC_LEAN logits and its third's and
# fifth's by TRIAD_LEAN while less than TONIC_SHARE of the stream's pitched notes are on
# the tonic, so that the music sounds in that key and not in its relative; not beyond,
# or it drones: a lean always on put 36-68% of the notes on the tonic, where real pieces
# of the shared corpus have a median 21% (30% at the 9th decile).  The cost: the
# Krumhansl-Kessler estimate finds the asked key in fewer pieces (97% -> 79%,
# scripts/bench_control.py): in the rest it hears a related key (the dominant's, the
# relative or the parallel key) in notes that all keep the asked scale
TONIC_LEAN = 2.0
TRIAD_LEAN = 0.75
TONIC_SHARE = 0.2
# in a piece's last CLOSING_BARS bars, pitched notes outside its key's tonic triad lean
# away by CLOSING_LEAN, and its third and fifth by CLOSING_TRIAD (in the bass, by
# CLOSING_LEAN too): it ends on its tonic, as real pieces do (held-out ones: the bass on
# the tonic in 72%, the last chord in the tonic triad in 64%; unprimed pieces 27% and 17%
# without this lean, 45% and 55% with it but the bass's, 56% and 56% with it all)
CLOSING_LEAN = -4.0
CLOSING_TRIAD = -1.0
CLOSING_BARS = 2
BASS_RANGE = 12  # the bass: the octave above a stream's lowest note, where only the tonic is free
MAX_DENSITY = 64.0  # notes per second: more is a drum roll, not a density
DENSITY_GAIN = 20.0  # logit bias per unit of log(asked / measured notes per second)
DENSITY_MAX_BIAS = 6.0  # the bias's bound either way: a nudge, never a forced note
DENSITY_SLACK = 0.15  # a drawn rate lets the stream stray by this share before it leans
DENSITY_PRIOR_SECONDS = 2.0  # the measured rate starts at the asked one, for this long
# a stream's chords: one more note where one has just started leans by CHORD_GAIN per unit
# of log(aimed / measured notes per onset), once that strays by CHORD_SLACK, at most
# CHORD_MAX_BIAS either way; the measure starts at the aim, for CHORD_PRIOR_ONSETS onsets
CHORD_GAIN = 8.0
CHORD_SLACK = 0.1
CHORD_MAX_BIAS = 4.0
CHORD_PRIOR_ONSETS = 8
# a second note on one step of an instrument whose player sounds one note at a time
# (gm.ONE_LINE) leans away by this much: with the model's own odds the generated pieces
# stacked them far more than their corpus (80 pieces, unprimed, classical, band and pop:
# notes starting with another of their program, bass 8.1% -> 1.4%, brass 34% -> 7.3%,
# reeds 37% -> 2.7%, pipes 5.4% -> 1.9%; the training files 2.1%, 14.5%, 10.6%, 2.4%)
STACKED_LINE = -3.0
# a bass's notes above BASS_TOP (G2) lean away by BASS_GAIN logits per octave past it: the
# stream's register is all its instruments', and alone it let the basses play an octave
# above their corpus's, over the harmony.  48 unprimed and band pieces, bass notes' 10th,
# 50th and 90th percentiles 32, 45, 58 -> 29, 35, 43 (the training files: 29, 35, 45)
BASS_TOP = 43
BASS_GAIN = 12.0
BASSES = frozenset(FAMILIES["bass"])
# the sustain pedal: only a piano presses it (of the band training files' pedal downs, 362
# on pianos, 25 on guitars, 3 on strings, none elsewhere; in unprimed band pieces a bass or
# a trombone held it down to the end, every note ringing on), and once it has been down
# PEDAL_MAX_STEPS it comes up (PEDAL_RELEASE: a lean that leaves nothing else a chance, but
# gives way to the rule that a piece's last 8th only rests), to be pressed again if the
# model likes (the training files' pianos held it a median 1.7 beats, 7.8 at the 99th
# percentile; a band piece's piano held it 56 s); in steady music, not --free's
PEDALLED = frozenset(FAMILIES["piano"])
PEDAL_MAX_STEPS = 8 * STEPS_PER_BEAT
PEDAL_RELEASE = 50.0
OUT_OF_KEY = -1.5  # logit bias for notes outside the kept key's scale: about 1/4.5 as likely
KEY_SETTLE_NOTES = 16  # pitched notes after which a stream's key is estimated and kept
LEADING_TONE = -1.0  # and for a minor key's raised 7th, which minor music often uses
KEY_MAX_LEAN = 3.0  # a stream far out of its key gets up to this many times the key bias
# and one tighter than its piece gets the bias reversed, this many times its excess share
# against the share its piece leaves out of key (so at most this many times): at 1, and
# straying from the kept key, piano streams aiming at a fifth of their notes out of key
# kept about a tenth out, and their scale consistency overlapped held-out piano's by
# 0.62; straying from the scale that holds most of them (Stream.key_bias), by 0.68 at
# 1, 0.81 at 3 and 0.79 at 5
KEY_STRAY_GAIN = 3.0
KEY_MIN_SLACK = 0.005  # the least share of notes out of key a style is taken to allow
# IN_SCALE[pitch class, k]: whether ALL_KEYS[k]'s scale holds it; and each key's k
IN_SCALE = np.array([[pc in key.scale for key in ALL_KEYS] for pc in range(12)], np.int64)
KEY_INDEX = {key: k for k, key in enumerate(ALL_KEYS)}
# a stream's register: its pitched notes' running mean (with this many notes at the target
# as a prior) may stray this many semitones from its target before notes lean back, by
# REGISTER_GAIN logits per octave per semitone strayed beyond, up to REGISTER_MAX_GAIN
REGISTER_PRIOR_NOTES = 8
REGISTER_SLACK = 1.0
REGISTER_GAIN = 2.0
REGISTER_MAX_GAIN = 4.0
# a stream's range: notes further than its reach below or above its target mean pitch, and
# RANGE_SLACK more, lean away by RANGE_GAIN logits per octave past that
RANGE_SLACK = 3.0
RANGE_GAIN = 4.0
# logit bias for an instrument (a program, or the kit) new to a stream that already plays
# as many as its aim: a pop song stays on its piano, a quartet of four gets no fifth
NEW_INSTRUMENT = -8.0
# an instrument that plays in less than this share of a style's pieces is foreign to it,
# and leans away by FOREIGN_INSTRUMENT
FOREIGN_SHARE = 0.01
FOREIGN_INSTRUMENT = -8.0
OTHER_VELOCITY = -4.0  # logit bias, in a one-velocity style, for VEL bins but the first one
# an aim only (Steering.aims), not a style's figure: the mean VEL bin (0-15) of the music
# around an infilled span
MEAN_VELOCITY = "mean_velocity"
# a stream's loudness: the running mean of its VEL bins (with this many notes at the aim as
# a prior) may stray this many bins from the aim before the VEL bins tilt back towards it,
# by LOUDNESS_GAIN logits per bin strayed beyond for every 4 bins (a quarter of the range),
# up to LOUDNESS_MAX_GAIN.  A tilt, not a lean on the far side as the register has: the
# model's velocities bunch in a few bins next to each other, which such a lean hardly
# moved (Tchaikovsky's June, bars 5-8 aimed at bin 7.4: from bin 4.0 to 5.0)
LOUDNESS_PRIOR_NOTES = 8
LOUDNESS_SLACK = 0.5
LOUDNESS_GAIN = 2.0
LOUDNESS_MAX_GAIN = 4.0
# a stream silent this long after it has sounded leans back into playing: its rests get
# SILENCE_LEAN, and more as the silence goes on (an LSTM that has rested for bars grows
# ever surer it should rest on: a continuation of a prime in POP909's one-beat bars once
# rested for 50 s)
SILENCE_STEPS = 8 * STEPS_PER_BEAT
SILENCE_LEAN = -4.0
PROGRESS_EVERY = 256  # draws between two reports of sample_tokens' progress
PULSE_SETTLE_NOTES = 16  # notes after which a stream's pulse (its grid's phase) is kept
OFF_PULSE = -4.0  # logit bias for a note or rest end off the kept pulse: 1/55 as likely
PULSE_POSITIONS = (0, 6, 8, 12, 16, 18)  # in a beat of 24 steps: 16ths and 8th triplets
# a rank drawn for each
PIECE_FIGURES = (
    KEY_SHARE,
    MEAN_PITCH,
    REACH_BELOW,
    REACH_ABOVE,
    INSTRUMENTS,
    NOTES_PER_SECOND,
    NOTES_PER_ONSET,
)
# the figures added since the first, whose ranks are drawn after the others' and only for a
# model that has them: with the same --seed, a model without them plays the same music
LATER_FIGURES = (NOTES_PER_ONSET,)
# a style keeps one velocity where this share of its pieces play one: Nottingham's tunes,
# written from ABC, all do.  Where fewer do, the one-velocity pieces are mostly scores with
# no dynamics marked, which say nothing about how the style plays, and the dynamics of the
# rest are the model's to keep (aiming classical streams at one velocity as 80% of its
# training pieces play lost 0.04 of classical mean OA against held-out pieces)
ONE_VELOCITY_SHARE = 0.9
TEMPO_FIRST_DIGITS = range(1, 6)  # TEMPO_1..TEMPO_5: 262,144 to 1,572,863 us, 229 to 38 bpm
COMMON_METERS = frozenset(
    {
        (2, 2),
        (3, 2),
        (2, 4),
        (3, 4),
        (4, 4),
        (5, 4),
        (6, 4),
        (3, 8),
        (6, 8),
        (7, 8),
        (9, 8),
        (12, 8),
    }
)


@dataclass(frozen=True)
class Steering:
    """What the musician asks of the music, beyond the model's own taste.

    ``key``: pitched notes stay in its scale.  ``instruments``: only these
    play.  ``density``: notes per second to aim for.  ``keep_tempo``: no
    tempo or time-signature changes (a continuation keeps its prime's).
    ``steady``: tempo and meter are set before the first note and kept.
    ``barred_meters``: a meter changes only where a bar begins, as a DAW
    counts bars (a 6/8 a beat into a bar of 4/4 moves every later bar line).
    ``settle_key``: after a few notes, stay in their key (without ``key``).
    ``kept_key``: stay in this key as ``settle_key`` stays in a settled one (a lean,
    where ``key`` is a rule), instead of the one a prime's notes give: an infill's
    is the key of the music around its span, which its prompt may not reach.
    ``piece_quantiles`` ({figure: {style name, "" for none: deciles}},
    data/openings.py): each stream draws a rank per figure, each on its own,
    and keeps its key as tightly, its register as high, its notes as near it
    and as many, its chords as thick and its instruments as few as the style's
    pieces at those ranks (and one velocity, in a style whose pieces nearly
    all play one); where the drum kit may not play, the last three are those
    of the pieces' other instruments (openings.PITCHED).
    ``style_instruments`` ({style name, "" for none: {program, or KIT: the share
    of its pieces it plays in}}): an instrument that few of the style's pieces
    play leans away, so that a pop song is played on the piano POP909 plays.
    ``settle_pulse``: notes start on the 16ths and 8th triplets of a pulse:
    the written beat's from scratch, the one a prime's notes keep after it.
    ``aims`` ({figure: value}: PIECE_FIGURES but the key's and the ensemble's, and
    MEAN_VELOCITY): what a continuation aims at instead of its prime's figures; an
    infill's are those of the music on both sides of its span.
    """

    key: Key | None = None
    instruments: Instruments | None = None
    density: float | None = None
    keep_tempo: bool = False
    steady: bool = False
    barred_meters: bool = False
    settle_key: bool = False
    kept_key: Key | None = None
    piece_quantiles: Mapping[str, Mapping[str, Sequence[float]]] = field(default_factory=dict)
    style_instruments: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    settle_pulse: bool = False
    aims: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.density is not None and not 0 < self.density <= MAX_DENSITY:
            raise MidiError(
                f"density must be more than 0 and at most {MAX_DENSITY:g} notes per second"
            )


class Masks:
    """Boolean masks over a vocabulary's ids: the grammar's FOLLOWERS, the sampler's limits
    and the musician's steering."""

    def __init__(self, vocab: Vocab, steering: Steering = Steering()) -> None:
        parsed = [_parsed(token) for token in vocab.tokens]
        self.kinds = [kind for kind, _ in parsed]
        self.values = [value for _, value in parsed]
        kinds = np.array(self.kinds)
        self.after = {expect: np.isin(kinds, names) for expect, names in FOLLOWERS.items()}
        self.sounds = np.isin(kinds, ("NOTE", "DRUM"))
        self.onsets = self.sounds | (kinds == "PROGRAM")
        self.rests = kinds == "SHIFT"
        self.bar_lines = has_bar_lines(vocab.ids)
        self.steady = steering.steady
        self.barred_meters = steering.barred_meters
        self.tempos, self.meters = kinds == "TEMPO", kinds == "TIMESIG"
        self.tempo_changes = self.tempos | self.meters
        self.programs = kinds == "PROGRAM"
        self.styles = kinds == "STYLE"
        # quantiles[figure][style id, or None]: what the style's pieces were like
        self.quantiles = {
            figure: {
                style_id: np.asarray(values)
                for style_id, values in _by_style_id(vocab, by_style).items()
            }
            for figure, by_style in steering.piece_quantiles.items()
        }
        if steering.instruments is not None and not steering.instruments.drums:
            # no kit: its ensemble, rate and chords are those of the pieces without theirs
            for figure, pitched in PITCHED.items():
                if pitched in self.quantiles:
                    self.quantiles[figure] = self.quantiles[pitched]
        notes = kinds == "NOTE"
        pitches = np.array([value if kind == "NOTE" else -1 for kind, value in parsed])
        in_key, self.triad_lean = _key_masks(steering.key, notes, pitches)
        self.settle_key = (steering.settle_key or steering.kept_key is not None) and (
            steering.key is None
        )
        self.kept_key = steering.kept_key if self.settle_key else None
        self.asked_key = steering.key
        self._closing_bias: dict[tuple[Key, int], np.ndarray] = {}
        self.notes, self.pitches = notes, pitches
        # above_bass: the lean of a bass's notes above its register (BASS_TOP)
        above = np.maximum(pitches - BASS_TOP, 0)
        self.above_bass = np.where(notes, -BASS_GAIN / 12 * above, 0.0).astype(np.float32)
        self.no_lean = np.zeros(len(vocab), np.float32)
        self._window_bias: dict[tuple[int, int], np.ndarray] = {}  # by (lowest, highest)
        self.vel_tokens = kinds == "VEL"
        velocity_bins = np.array([value if kind == "VEL" else 0 for kind, value in parsed])
        # each VEL token's bin in units of 4 bins (a tilt's slope), 0 for the other tokens
        self.loudness = (velocity_bins / 4).astype(np.float32)
        self.aims = dict(steering.aims)
        self._other_velocities: dict[int, np.ndarray] = {}
        self._key_bias: dict[Key, np.ndarray] = {}
        self._open_scales_bias: dict[int, np.ndarray] = {}  # by pitch classes played
        self.settle_pulse = steering.settle_pulse
        chosen = steering.instruments
        # playable[program]: every token but the NOTEs this program may not play: outside
        # its range, outside the key, or any NOTE or pedal of a program the musician left
        # out (a model that meant to play such a program would otherwise pedal it forever);
        # and, in steady music, a pedal pressed on any but a piano (PEDALLED)
        left_out = ~(notes | (kinds == "PEDAL"))
        pedal_on, pedal_off = vocab.ids.get("PEDAL_ON"), vocab.ids.get("PEDAL_OFF")
        any_token, no_pedal = np.ones(len(vocab), bool), np.ones(len(vocab), bool)
        if pedal_on is not None and steering.steady:
            no_pedal[pedal_on] = False
        self.pedal_on, self.pedal_off = pedal_on, pedal_off
        self.release = np.zeros(len(vocab), np.float32)  # PEDAL_OFF by PEDAL_RELEASE
        if pedal_off is not None:
            self.release[pedal_off] = PEDAL_RELEASE
        self.playable = np.array(
            [
                (in_key & (~notes | ((low <= pitches) & (pitches <= high))))
                & (any_token if program in PEDALLED else no_pedal)
                if chosen is None or program in chosen.programs
                else left_out
                for program, (low, high) in enumerate(PROGRAM_RANGES)
            ]
        )
        programs = np.array([value if kind == "PROGRAM" else -1 for kind, value in parsed])
        self.program_values, self.drums = programs, kinds == "DRUM"
        self._new_instruments: dict[frozenset[int], np.ndarray] = {}
        self._instrument_leans: dict[tuple[frozenset[int], float], np.ndarray] = {}
        # stay: the PROGRAMs lean away while an instrument brought in has not yet played
        self.stay = np.where(self.programs, np.float32(-BRING_IN), np.float32(0.0))
        self.steered = _steered(steering, parsed, kinds, programs)
        self.asked = chosen.asked if chosen is not None else ()
        # the ensemble is the musician's once they name instruments
        self.keeps_ensemble = INSTRUMENTS in self.quantiles and not self.asked
        # and so are their chords: a solo style's would keep them from playing together
        # (but not an infill's, which aims at the chords around its span)
        aimed = set(self.quantiles) | set(self.aims)
        self.keeps_chords = NOTES_PER_ONSET in self.aims or (
            NOTES_PER_ONSET in self.quantiles and not self.asked
        )
        # the notes per second asked for, or else a piece of the style's (density_bias)
        self.asked_rate = steering.density
        self.leans_rate = steering.density is not None or NOTES_PER_SECOND in aimed
        # foreign[style id, or None]: the logits for the instruments foreign to the style
        self.foreign = {}
        if not self.asked:
            for style_id, shares in _by_style_id(vocab, steering.style_instruments).items():
                native = {
                    instrument for instrument, share in shares.items() if share >= FOREIGN_SHARE
                }
                foreign = (self.programs | self.drums) & ~self.instrument_tokens(native)
                self.foreign[style_id] = np.where(
                    foreign, np.float32(FOREIGN_INSTRUMENT), np.float32(0.0)
                )
        self.leans = (
            steering.steady
            or self.settle_key
            or self.settle_pulse
            or bool(self.asked)
            or VELOCITY_BINS in self.quantiles
            or MEAN_VELOCITY in self.aims
            or self.keeps_ensemble
            or bool(self.foreign)
        )
        self.pitch_leans = MEAN_PITCH in aimed or self.settle_key or steering.key is not None
        shifts = np.array([value if kind == "SHIFT" else 0 for kind, value in parsed])
        self.shifts = shifts
        # shift_ids[n]: the id of SHIFT_n, -1 where there is none (n = 0 or past MAX_SHIFT)
        self.shift_ids = np.full(MAX_SHIFT + 2, -1)
        self.shift_ids[shifts[shifts > 0]] = np.flatnonzero(shifts > 0)
        self._pulse_bias: dict[int, np.ndarray] = {}
        self.silence_bias = np.where(shifts > 0, np.float32(SILENCE_LEAN), np.float32(0.0))
        # how a density bias moves each token: the new voices (Stream.voices: notes and
        # drums) by one unit, and rests the other way by their length (a 16th is neutral,
        # a whole note two units), so that sparser music both starts fewer notes and waits
        # longer between them
        rests = np.log2(np.maximum(shifts, 1) / (STEPS_PER_BEAT / 4)) / 2
        self.rest_lean = ((shifts > 0) * rests).astype(np.float32)
        self.sound_lean = self.sounds.astype(np.float32)
        self.density_lean = self.sound_lean - self.rest_lean
        self._voices: dict[tuple[frozenset[int], bool], tuple[np.ndarray, np.ndarray]] = {}
        self._not_joining: dict[tuple[frozenset[int], bool], np.ndarray] = {}
        # shorter_than[n]: every token but the SHIFTs of n steps or more
        self.shorter_than = np.array([shifts < max(n, 1) for n in range(MAX_SHIFT + 2)])
        self.durations = np.array([value if kind == "DUR" else -1 for kind, value in parsed])
        self._duration_order = np.argsort(self.durations)  # non-DURs (-1) first
        self.longest_duration = int(self.durations.max())
        self.eos_id = vocab.ids[EOS]
        self.eos = np.zeros(len(vocab), bool)
        self.eos[self.eos_id] = True

    def voices(self, struck: frozenset[int], holding: bool) -> tuple[np.ndarray, np.ndarray]:
        """The tokens a lean for more notes moves, and a second note of a ``struck``
        program that plays one line (its NOTEs while ``holding``: the one playing is among
        them; else its PROGRAM), once they have struck on this step.

        More notes are the notes and drums, or while ``holding``, another instrument's
        joining in (a PROGRAM, a drum)."""
        if (struck, holding) not in self._voices:
            stacking = self.instrument_tokens(struck)
            if holding:
                more, stacking = (self.programs | self.drums) & ~stacking, stacking | self.notes
            else:
                more = self.sounds
            self._voices[struck, holding] = more.astype(np.float32), stacking
        return self._voices[struck, holding]

    def not_joining(self, full: frozenset[int], playing: bool) -> np.ndarray:
        """Every token but another note on this step of the ``full`` programs: their
        PROGRAMs, and the NOTEs if one of them is ``playing``."""
        if (full, playing) not in self._not_joining:
            refused = self.instrument_tokens(full) | (self.notes & playing)
            self._not_joining[full, playing] = ~refused
        return self._not_joining[full, playing]

    def longest_duration_id(self, steps: int) -> int | None:
        """The id of the longest DUR of at most ``steps`` steps; None if there is none."""
        values = self.durations[self._duration_order]
        at = np.searchsorted(values, steps, side="right") - 1
        return int(self._duration_order[at]) if at >= 0 and values[at] >= 0 else None

    def closing_bias(self, key: Key, bass_below: int) -> np.ndarray:
        """Logits for the NOTEs of a piece's last CLOSING_BARS bars: none for ``key``'s
        tonic, CLOSING_TRIAD for its third and fifth, CLOSING_LEAN for every other
        pitch, and below ``bass_below`` (the bass) CLOSING_LEAN for all but the tonic."""
        if (key, bass_below) not in self._closing_bias:
            classes = self.pitches % 12
            tonic, third, fifth = key.triad
            bias = np.where(self.notes, np.float32(CLOSING_LEAN), np.float32(0.0))
            triad = self.notes & np.isin(classes, [third, fifth])
            bias[triad & (self.pitches >= bass_below)] = CLOSING_TRIAD
            bias[self.notes & (classes == tonic)] = 0.0
            self._closing_bias[key, bass_below] = bias
        return self._closing_bias[key, bass_below]

    def key_bias(self, key: Key | None) -> np.ndarray:
        """Logits to add for a stream that keeps ``key`` (zeros before it has one)."""
        if key not in self._key_bias:
            bias = np.zeros(len(self.notes), np.float32)
            if key is not None:
                pitch_class = self.pitches % 12
                bias[self.notes & ~np.isin(pitch_class, sorted(key.scale))] = OUT_OF_KEY
                if key.minor:
                    bias[self.notes & (pitch_class == (key.tonic + 11) % 12)] = LEADING_TONE
            self._key_bias[key] = bias
        return self._key_bias[key]

    def open_scales_bias(self, played: int) -> np.ndarray:
        """Logits to add for a stream that keeps no key yet: OUT_OF_KEY for the notes
        outside every scale that holds all the pitch classes in ``played`` (a bit per
        class), none where no scale holds them all."""
        if played not in self._open_scales_bias:
            held = 0  # the pitch classes of the scales that hold them all
            for key in ALL_KEYS:
                scale = sum(1 << pitch_class for pitch_class in key.scale)
                if not played & ~scale:
                    held |= scale
            bias = np.zeros(len(self.notes), np.float32)
            if held:
                outside = (held >> (self.pitches % 12)) & 1 == 0
                bias[self.notes & outside] = OUT_OF_KEY
            self._open_scales_bias[played] = bias
        return self._open_scales_bias[played]

    def targets(self, style_id: int | None, ranks: Sequence[float]) -> dict[str, float]:
        """Each figure of the piece at ``ranks`` (0..1, one per PIECE_FIGURES) among the
        pieces of this style (None: without one), where the model says; and
        VELOCITY_BINS 1 for a style that keeps one velocity."""
        targets = {}
        for figure, rank in zip(PIECE_FIGURES, ranks, strict=True):
            values = self.quantiles.get(figure, {}).get(style_id)
            if values is not None:
                targets[figure] = _quantile(values, rank)
        bins = self.quantiles.get(VELOCITY_BINS, {}).get(style_id)
        if bins is not None and _quantile(bins, ONE_VELOCITY_SHARE) <= 1:
            targets[VELOCITY_BINS] = 1.0
        return targets

    def instrument_tokens(self, instruments: frozenset[int]) -> np.ndarray:
        """The tokens that play one of ``instruments``: their PROGRAMs, and the DRUMs
        if the kit (KIT) is among them."""
        tokens = np.isin(self.program_values, sorted(instruments))
        return tokens | self.drums if KIT in instruments else tokens

    def alone(self, token_id: int, may_end: bool) -> np.ndarray:
        """A mask of one token, and ``<eos>`` where the piece ``may_end``."""
        allowed = self.eos.copy() if may_end else np.zeros_like(self.eos)
        allowed[token_id] = True
        return allowed

    def new_instruments(self, played: frozenset[int]) -> np.ndarray:
        """Logits for the PROGRAM tokens of programs not in ``played`` (and the DRUM
        tokens, without KIT in it)."""
        if played not in self._new_instruments:
            new = (self.programs | self.drums) & ~self.instrument_tokens(played)
            self._new_instruments[played] = np.where(
                new, np.float32(NEW_INSTRUMENT), np.float32(0.0)
            )
        return self._new_instruments[played]

    def other_programs(self, programs: frozenset[int]) -> np.ndarray:
        """NEW_INSTRUMENT for the PROGRAM tokens of ``programs``: a named family's members
        other than the one a stream plays."""
        return self._instrument_lean(programs, NEW_INSTRUMENT)

    def silent_instruments(self, silent: frozenset[int], strength: int = 1) -> np.ndarray:
        """Logits for the PROGRAM tokens of the programs in ``silent`` (and the DRUM
        tokens, with KIT in it): instruments to bring in, or back once fallen silent,
        by ``strength`` times BRING_IN."""
        return self._instrument_lean(silent, BRING_IN * strength)

    def _instrument_lean(self, instruments: frozenset[int], lean: float) -> np.ndarray:
        """``lean`` for the tokens that play one of ``instruments``, 0 elsewhere."""
        if (instruments, lean) not in self._instrument_leans:
            tokens = self.instrument_tokens(instruments)
            self._instrument_leans[instruments, lean] = np.where(
                tokens, np.float32(lean), np.float32(0.0)
            )
        return self._instrument_leans[instruments, lean]

    def other_velocities(self, kept: int) -> np.ndarray:
        """Logits for the VEL tokens other than ``kept``."""
        if kept not in self._other_velocities:
            bias = np.where(self.vel_tokens, np.float32(OTHER_VELOCITY), np.float32(0.0))
            bias[kept] = 0.0
            self._other_velocities[kept] = bias
        return self._other_velocities[kept]

    def window_bias(self, lowest: float, highest: float) -> np.ndarray:
        """Logits for notes below ``lowest`` or above ``highest`` (and RANGE_SLACK past
        them), by how far."""
        key = (round(lowest - RANGE_SLACK), round(highest + RANGE_SLACK))
        if key not in self._window_bias:
            outside = np.maximum(key[0] - self.pitches, 0) + np.maximum(self.pitches - key[1], 0)
            bias = np.where(self.notes, -RANGE_GAIN / 12 * outside, 0.0)
            self._window_bias[key] = bias.astype(np.float32)
        return self._window_bias[key]

    def pulse_bias(self, offset: int | None) -> np.ndarray:
        """Logits to add for a stream ``offset`` steps past a beat of its kept pulse (zeros
        before it has one): off the pulse's 16ths and 8th triplets, notes lean away, and
        so do rests that would end there."""
        if offset not in self._pulse_bias:
            bias = np.zeros(len(self.shifts), np.float32)
            if offset is not None:
                ends = (offset + self.shifts) % STEPS_PER_BEAT
                bias[(self.shifts > 0) & ~np.isin(ends, PULSE_POSITIONS)] = OFF_PULSE
                if offset not in PULSE_POSITIONS:
                    bias[self.onsets & ~self.programs] = OFF_PULSE
            self._pulse_bias[offset] = bias
        return self._pulse_bias[offset]


def _key_masks(key: Key | None, notes: np.ndarray, pitches: np.ndarray) -> tuple:
    """(in_key: every token but the NOTEs outside the key's scale, the tonic triad's lean
    for the notes: see TONIC_SHARE)."""
    bias = np.zeros(len(notes), np.float32)
    if key is None:
        return np.ones(len(notes), bool), bias
    for pitch_class, lean in zip(key.triad, (TONIC_LEAN, TRIAD_LEAN, TRIAD_LEAN), strict=True):
        bias[notes & (pitches % 12 == pitch_class)] = lean
    return ~notes | np.isin(pitches % 12, sorted(key.scale)), bias


def _steered(
    steering: Steering, parsed: list, kinds: np.ndarray, programs: np.ndarray
) -> np.ndarray:
    """Every token but the programs, drums, tempi and meters the musician ruled out, the
    tempi and meters no musician would write, and the drum keys General MIDI does not
    map (``programs``: each PROGRAM token's program, -1 for other tokens)."""
    steered = np.ones(len(kinds), bool)
    chosen = steering.instruments
    if chosen is not None:
        steered &= (kinds != "PROGRAM") | np.isin(programs, sorted(chosen.programs))
        if not chosen.drums:
            steered &= kinds != "DRUM"
    if steering.keep_tempo:
        steered &= ~np.isin(kinds, ("TEMPO", "TIMESIG"))
    steered &= np.array(
        [
            not (kind == "TIMESIG" and value not in COMMON_METERS)
            and not (kind == "TEMPO" and value not in TEMPO_FIRST_DIGITS)
            and not (kind == "DRUM" and value not in GM_DRUM_KEYS)
            for kind, value in parsed
        ]
    )
    return steered


def _draw_ranks(rng: np.random.Generator, streams: int, quantiles: Mapping) -> np.ndarray:
    """Each stream's rank among its style's pieces, one per PIECE_FIGURES (ones without
    quantiles); a LATER_FIGURES rank is drawn only where the model has that figure."""
    ranks = np.ones((streams, len(PIECE_FIGURES)))
    if not quantiles:
        return ranks
    first = [k for k, figure in enumerate(PIECE_FIGURES) if figure not in LATER_FIGURES]
    ranks[:, first] = rng.random((streams, len(first)))
    for k, figure in enumerate(PIECE_FIGURES):
        if figure in LATER_FIGURES and figure in quantiles:
            ranks[:, k] = rng.random(streams)
    return ranks


def _best_pulse(onset_phases: list[int]) -> int:
    """The phase (0-5 steps) of the 16th grid that holds the most of these onsets."""
    per_phase = np.array(onset_phases).reshape(-1, STEPS_PER_BEAT // 4).sum(axis=0)
    return int(np.argmax(per_phase))


def _by_style_id(vocab: Vocab, by_style: Mapping[str, object]) -> dict[int | None, object]:
    """A table by style name ("" for none) keyed by the style's token id (None for none),
    without the styles the model cannot play."""
    return {
        vocab.ids[STYLE_PREFIX + style] if style else None: value
        for style, value in by_style.items()
        if not style or STYLE_PREFIX + style in vocab.ids
    }


def _log_lean(aim: float, measured: float, slack: float, gain: float, bound: float) -> float:
    """A logit bias towards ``aim``: ``gain`` per unit of log(aim / measured) beyond
    ``slack``, at most ``bound`` either way (the rate's and the chords' leans)."""
    # math, not NumPy: on one number it costs a tenth; an aim of 0 leans fully away
    off = math.log(aim / measured) if aim > 0 else -math.inf
    off = math.copysign(max(abs(off) - slack, 0.0), off)
    return min(max(gain * off, -bound), bound)


def _pull_back(
    total: float,
    count: int,
    target: float,
    *,
    prior: int,
    slack: float,
    gain: float,
    max_gain: float,
) -> tuple[float, float]:
    """The running mean of ``count`` values that sum to ``total``, with ``prior`` more at
    ``target``, and how hard it is pulled back (register_bias, velocity_bias): none
    within ``slack`` of the target, beyond it ``gain`` per unit further, at most
    ``max_gain``, signed as the mean strayed."""
    mean = (total + target * prior) / (count + prior)
    strayed = mean - target
    beyond = abs(strayed) - slack
    if beyond <= 0:
        return mean, 0.0
    return mean, min(gain * beyond, max_gain) * float(np.sign(strayed))


def _quantile(values: Sequence[float], rank: float) -> float:
    """The value at ``rank`` (0..1) of rising quantiles taken at even levels 0..1."""
    return float(np.interp(rank, np.linspace(0, 1, len(values)), values))


def _parsed(token: str) -> tuple[str, object]:
    try:
        return parse_token(token)
    except ValueError:  # <pad>, <unk>, <eos>
        return token, None


@dataclass
class Stream:
    """One stream being sampled: where it stands in the music, and the sampler's counters."""

    cursor: Cursor = field(default_factory=Cursor)
    # the first note must start by this step: within the first beat, or by the beat
    # after a prime with no note ends (follow_prime), a step the pulse keeps (a note
    # forced onto the prime's last step, or the one before a beat, sat off the grid)
    lead_in: bool = True
    lead_in_until: int = STEPS_PER_BEAT - 1
    style_open: bool = False  # the next token may be a style (right after the header)
    tokens: int = 0  # tokens after the header, prime included
    sounded: bool = False  # a note has begun
    notes: int = 0  # notes begun so far
    prime_notes: int = 0  # and of them, the prime's; and the prime's length
    prime_seconds: float = 0.0
    notes_this_step: int = 0  # notes begun on the current step
    onset_steps: int = 0  # steps on which a note began
    last_onset: int = 0  # the step of the last note begun
    programs: set[int] = field(default_factory=set)  # ids of PROGRAM tokens used
    played: set[int] = field(default_factory=set)  # programs that played a note, KIT for drums
    last_played: dict[int, int] = field(default_factory=dict)  # and the step of their last
    # the step each came back at after BRING_BACK_STEPS of silence and the strength of the
    # call back then (_call_strength), and where its last note ends (a held chord is still
    # playing): for its phrase once back
    returned: dict[int, tuple[int, int]] = field(default_factory=dict)
    heard_to: dict[int, int] = field(default_factory=dict)
    tempo_step: int = -1  # the step of the last TEMPO
    meter_step: int = -1  # and of the last TIMESIG: one of each a step, as the encoder writes
    # the prime's meters, (step, TIMESIG id), and the one it played longest where the cut
    # fell in the first bar of another (_prevailing_meter): it comes back at the next bar
    # line
    prime_meters: list[tuple[int, int]] = field(default_factory=list)
    meter_back: int | None = None
    pedal_down: dict[int, int] = field(default_factory=dict)  # program -> step it was pressed
    # program -> the step of its last pedal token, and whether it pressed (a press while
    # down counts too: a pedal token limits the pedal changes of its step all the same)
    pedal_changed: dict[int, tuple[int, bool]] = field(default_factory=dict)
    pitch_classes: list[int] = field(default_factory=lambda: [0] * 12)  # of pitched notes
    # and the steps each pitch class sounds, while a prime is read
    prime_pitch_steps: list[int] = field(default_factory=lambda: [0] * 12)
    key: Key | None = None  # the key kept, once settled
    ranks: tuple[float, ...] = (1.0,) * len(PIECE_FIGURES)  # where among its style's pieces
    targets: dict[str, float] = field(default_factory=dict)  # and the figures there
    pitch_total: int = 0  # of pitched notes, for their running mean, and how many
    pitched: int = 0
    lowest: int = 128  # and the lowest and highest of them
    highest: int = -1
    first_velocity: int | None = None  # the id of the first VEL token played
    velocity_total: int = 0  # of the VEL bins played, for their running mean, and how many
    velocities: int = 0
    varied_velocity: bool = False  # and whether another has been played since
    style: int | None = None  # the id of its STYLE token
    primed: bool = False  # it continues a prime, whose instruments are its own
    # and the instruments heard in that prime, which the continuation keeps playing
    prime_ensemble: frozenset[int] = frozenset()
    aimed: bool = False  # and aims at the steering's figures: its leans measure its own notes
    kept_notes: int = 0  # pitched notes since the key was kept
    # and those in each of ALL_KEYS' scales: in the kept key's, and in the one that holds most
    kept_scales: np.ndarray = field(
        default_factory=lambda: np.zeros(len(ALL_KEYS), np.int64), compare=False
    )
    onset_phases: list[int] = field(default_factory=lambda: [0] * STEPS_PER_BEAT)  # until pulse
    pulse: int | None = None  # the kept pulse's phase in steps (0-5), once settled
    at_once: dict[int, int] = field(default_factory=dict)  # notes begun on this step by
    at_once_step: int = -1  # each MOST_AT_ONCE program, and the step
    finished: bool = False

    @property
    def in_key_notes(self) -> int:
        """Pitched notes since the key was kept that lie in its scale."""
        return int(self.kept_scales[KEY_INDEX[self.key]]) if self.key is not None else 0

    def advance(self, token_id: int, masks: Masks) -> None:
        """Move on by one token of the vocabulary."""
        self.tokens += 1
        self.style_open = False
        kind = masks.kinds[token_id]
        if kind == "STYLE":
            self.style = token_id
            self.targets = masks.targets(token_id, self.ranks)
        elif kind == "SHIFT":
            self.notes_this_step = 0
        elif kind == "NOTE" or kind == "DRUM":
            self.played.add(self.cursor.program if kind == "NOTE" else KIT)
            if kind == "NOTE" and self.cursor.program in MOST_AT_ONCE:
                if self.at_once_step != self.cursor.step:
                    self.at_once, self.at_once_step = {}, self.cursor.step
                self.at_once[self.cursor.program] = self.at_once.get(self.cursor.program, 0) + 1
            instrument = self.cursor.program if kind == "NOTE" else KIT
            silent = self.cursor.step - self.last_played.get(instrument, self.cursor.step)
            if silent > BRING_BACK_STEPS:
                self.returned[instrument] = (self.cursor.step, self._call_strength(silent))
            self.last_played[instrument] = self.cursor.step
            self.onset_steps += not self.notes_this_step
            self.notes_this_step += 1
            self.last_onset = self.cursor.step
            self.notes += 1
            self.sounded = True
            # a pulse being found, or a prime read (follow_prime finds its pulse again)
            if masks.settle_pulse and (self.pulse is None or self.reading_prime):
                self.onset_phases[self.cursor.step % STEPS_PER_BEAT] += 1
                if self.pulse is None and self.notes >= PULSE_SETTLE_NOTES:
                    self.pulse = _best_pulse(self.onset_phases)
            if kind == "NOTE":
                self.pitch_classes[masks.values[token_id] % 12] += 1
                self.pitch_total += masks.values[token_id]
                self.pitched += 1
                self.lowest = min(self.lowest, masks.values[token_id])
                self.highest = max(self.highest, masks.values[token_id])
                if self.key is not None:
                    self.kept_notes += 1
                    self.kept_scales += IN_SCALE[masks.values[token_id] % 12]
                if masks.settle_key and self.key is None:
                    if sum(self.pitch_classes) >= KEY_SETTLE_NOTES:
                        self.key = fitting_key(self.pitch_classes)
        elif kind == "VEL":
            self.velocity_total += masks.values[token_id]
            self.velocities += 1
            if self.first_velocity is None:
                self.first_velocity = token_id
            self.varied_velocity |= token_id != self.first_velocity
        elif kind == "PROGRAM":
            self.programs.add(token_id)
        elif kind == "PEDAL":
            pressed = bool(masks.values[token_id])
            self.pedal_changed[self.cursor.program] = (self.cursor.step, pressed)
            if pressed:
                self.pedal_down.setdefault(self.cursor.program, self.cursor.step)
            else:
                self.pedal_down.pop(self.cursor.program, None)
        elif kind == "TEMPO":
            self.tempo_step = self.cursor.step
        elif kind == "TIMESIG":
            self.meter_step = self.cursor.step
            if self.reading_prime:
                self.prime_meters.append((self.cursor.step, token_id))
            if token_id == self.meter_back:
                self.meter_back = None
        self.cursor.feed(kind, masks.values[token_id])
        if kind == "DUR" and self.reading_prime and self.cursor.note.instrument != DRUMS:
            self.prime_pitch_steps[self.cursor.note.pitch % 12] += masks.values[token_id]
        if kind == "DUR":  # the note's length so far: where it ends
            note = self.cursor.note  # its instrument: a program, or DRUMS, which is KIT
            end = note.start + note.length
            self.heard_to[note.instrument] = max(self.heard_to.get(note.instrument, -1), end)

    @property
    def reading_prime(self) -> bool:
        """Its tokens so far are a prime's, fed before sampling (follow_prime ends it); a
        prime with no note is read as the lead-in of music from scratch."""
        return not self.lead_in and not self.primed

    def follow_prime(self, masks: Masks) -> None:
        """Aim at the register, range, rate and chords of the prime just fed, instead of
        a piece of its style drawn at random: a continuation goes on as it began (only
        the figures the model aims at, and only where the prime has notes enough to
        say), or at Steering.aims where the steering gives them.  Its
        ensemble is the prime's (the steering names the whole prime file's
        instruments), and a prime that plays at several velocities keeps its dynamics.
        It keeps to the key and the pulse of all the prime's notes (or to
        Steering.kept_key)."""
        self.primed = True
        self.prime_notes, self.prime_seconds = self.notes, self.cursor.seconds
        self.lead_in_until = (self.cursor.step // STEPS_PER_BEAT + 1) * STEPS_PER_BEAT
        self.meter_back = self._prevailing_meter() if masks.steady else None  # not --free's
        # the key and pulse were kept at the prime's 16th note: all its notes say more.
        # In the first 10 s of the shared real files, 20 of 331 find another pulse in
        # them.  The key is the one whose scale holds most of the prime's notes, and of
        # those (a major key or its relative minor), the one the Krumhansl-Schmuckler
        # estimate hears with each note weighed by how long it sounds
        if self.key is not None:
            if masks.kept_key is None:  # (notes of no length weigh nothing: then count them)
                weights = self.prime_pitch_steps if any(self.prime_pitch_steps) else None
                self.key = fitting_key(self.pitch_classes, weights)
            self.kept_notes = 0  # the continuation's notes, and those in each scale
            self.kept_scales = np.zeros(len(ALL_KEYS), np.int64)
        if self.pulse is not None:
            self.pulse = _best_pulse(self.onset_phases)
        self.targets.pop(INSTRUMENTS, None)
        self.prime_ensemble = frozenset(self.played)
        if self.varied_velocity:
            self.targets.pop(VELOCITY_BINS, None)
        if masks.aims:  # a register or a rate of the prime's would throw the measure off them
            self.targets.update(masks.aims)
            self.aimed = True
            self.pitch_total = self.pitched = self.onset_steps = 0
            self.velocity_total = self.velocities = 0
            return
        if self.pitched >= MIN_NOTES:
            mean = self.pitch_total / self.pitched
            prime = {
                MEAN_PITCH: mean,
                REACH_BELOW: mean - self.lowest,
                REACH_ABOVE: self.highest - mean,
                NOTES_PER_SECOND: self.notes / max(self.cursor.seconds, 1.0),
                NOTES_PER_ONSET: self.notes / self.onset_steps,
            }
            for name, value in prime.items():
                if name in self.targets:
                    self.targets[name] = value

    def _prevailing_meter(self) -> int | None:
        """The TIMESIG id of the meter the prime played longest, where the cut fell in
        the first bar of another: a one-off bar, it seems, as in Für Elise, whose first
        10 s are 3/8 but for a bar of 2/8 and one of 1/8 at the cut (its continuation
        went on in 1/8 to the end).  A meter played for a bar or more is the piece's."""
        if not self.prime_meters:
            return None
        if self.cursor.step - self.prime_meters[-1][0] >= self.cursor.bar_steps:
            return None
        ends = [step for step, _ in self.prime_meters[1:]] + [self.cursor.step]
        played: Counter[int] = Counter()
        for (start, meter), end in zip(self.prime_meters, ends, strict=True):
            played[meter] += end - start
        longest = played.most_common(1)[0][0]
        return longest if longest != self.prime_meters[-1][1] else None

    def lean(self, masks: Masks) -> np.ndarray:
        """The stream's own logit biases but its pitch lean: its velocity's, a long
        silence's, its ensemble's and its style's instruments', its kept key's, its
        kept pulse's and the named instruments' it has not heard yet, as far as the
        steering asks for them; and a pedal's release, once it has been down too long."""
        leans = [self.velocity_bias(masks)]
        silent = self.cursor.step - self.last_onset
        if masks.steady and self.sounded and silent >= SILENCE_STEPS:
            # stronger the longer it lasts: up to three times, four bars of 4/4 later
            longer = (silent - SILENCE_STEPS) / SILENCE_STEPS
            leans.append(masks.silence_bias * np.float32(min(1.0 + longer, 3.0)))
        if masks.keeps_ensemble:
            leans.append(self.ensemble_bias(masks))
        if not self.primed and self.style in masks.foreign:
            leans.append(masks.foreign[self.style])
        if masks.settle_key:
            leans.append(self.key_bias(masks))
        if masks.settle_pulse:
            leans.append(self.pulse_bias(masks))
        if masks.asked:
            leans.append(self.bring_in_bias(masks))
        pressed = self.pedal_down.get(self.cursor.program)
        if masks.steady and pressed is not None and pressed <= self.cursor.step - PEDAL_MAX_STEPS:
            leans.append(masks.release)
        return sum(leans[1:], leans[0])

    def pitch_lean(self, masks: Masks, closing: bool) -> np.ndarray:
        """Its logit biases that choose which pitch a note plays: its register's and
        range's, an asked key's tonic triad's while the tonic is rare (TONIC_SHARE), and
        near the piece's end (``closing``) its key's tonic triad's.  The sampler adds
        them within the notes alone (``lean_within``), for a lean that took note mass
        away would hand it to a rest, a drum or another instrument."""
        if self.cursor.expect in (VELOCITY, DURATION, FINE):  # no note may come next
            return masks.no_lean
        lean = self.register_bias(masks) + self.range_bias(masks)
        if self.cursor.program in BASSES:
            lean = lean + masks.above_bass
        key = masks.asked_key or self.key
        if closing and key is not None:
            lean = lean + masks.closing_bias(key, self.lowest + BASS_RANGE)
        elif masks.asked_key is not None:
            pitched = sum(self.pitch_classes)
            if self.pitch_classes[masks.asked_key.tonic] < TONIC_SHARE * pitched or not pitched:
                lean = lean + masks.triad_lean
        return lean

    def bring_in_bias(self, masks: Masks) -> np.ndarray:
        """The lean towards each named instrument that has not played yet, or has not
        been heard (its last note ended) for NAMED_BRING_BACK_STEPS, twice that after
        NAMED_LONG_SILENCE_STEPS more: an ensemble plays together, it does not hand the
        tune on.  A named family is one player: once the stream plays one of its
        programs, that one is brought back and the others lean away (`guitar` gave up to
        six guitar tracks, some of one note)."""
        bias, stay = masks.no_lean, False
        for named in masks.asked:
            chosen = frozenset(named & self.played)
            if len(named) > 1 and chosen and chosen != named:
                bias = bias + masks.other_programs(named - chosen)
            heard = max((self.heard_to.get(i, -1) for i in named), default=-1)
            silent = self.cursor.step - heard
            if heard >= 0 and silent < NAMED_BRING_BACK_STEPS:  # not played yet: leans now
                continue
            lean = masks.silent_instruments(chosen or named)
            bias = bias + lean
            if silent > NAMED_BRING_BACK_STEPS + NAMED_LONG_SILENCE_STEPS:
                bias = bias + lean
            stay |= self.cursor.program in named
        return bias + masks.stay if stay else bias  # brought in: it plays before moving on

    def key_bias(self, masks: Masks) -> np.ndarray:
        """The kept key's bias for the next token.  With a target share (the piece of
        its style at its rank keeps that share of its notes in one scale), the notes since
        the key was kept are judged as they would be were the next note out of key: below
        the target, the bias, the stronger the further below (against the share the
        target leaves out of key), up to KEY_MAX_LEAN times; above it, the bias reversed,
        up to KEY_STRAY_GAIN times: a stream that keeps its key tighter than its piece
        does strays where the model likes to.

        Whether it is above is judged by the scale that holds the most of the notes, and
        the stream strays from that scale: a listener (and compare's scale consistency)
        hears the scale the music keeps, and a stream that had moved to another had
        strayed from its kept key into that one (a piano stream aiming at 84% kept 89% in
        its key and 97% in its best scale).  Below, it leans back into its kept key, as
        strongly as its share in that key is short.

        Judged after the next note, not before it: a stream at its share was free to
        stray, so one aiming at every note in key strayed once before the lean began (30
        of 32 generated pop songs and every folk tune had a note or more outside their
        scale, where most real ones have none).  Before a key is kept, a stream with a
        target leans the same way, but never out, against the notes outside every scale
        that holds all its notes so far (a fifth of the strays left had come in its
        first KEY_SETTLE_NOTES notes)."""
        target = self.targets.get(KEY_SHARE)
        if target is None:
            return masks.key_bias(self.key)
        if self.key is None:
            played = sum(1 << pitch_class for pitch_class, n in enumerate(self.pitch_classes) if n)
            share = self.pitched / (self.pitched + 1)  # were the next note out of key
            if share >= target:
                return masks.no_lean
            bias = masks.open_scales_bias(played)
        else:
            best = int(self.kept_scales.argmax())
            share = int(self.kept_scales[best]) / (self.kept_notes + 1)
            if share >= target:
                # the kept key where its scale holds as many (with its minor's leading tone)
                kept = self.kept_scales[best] == self.in_key_notes
                bias = masks.key_bias(self.key if kept else ALL_KEYS[best])
                surplus = KEY_STRAY_GAIN * (share - target) / max(1.0 - target, KEY_MIN_SLACK)
                return bias * -surplus
            bias = masks.key_bias(self.key)
            share = self.in_key_notes / (self.kept_notes + 1)
        shortfall = (target - share) / max(1.0 - target, KEY_MIN_SLACK)
        return bias * min(1.0 + shortfall, KEY_MAX_LEAN)

    def pulse_bias(self, masks: Masks) -> np.ndarray:
        """The kept pulse's bias for the next token; a rest up to the next bar line is
        never leaned on, for no rest may cross it."""
        if self.pulse is None:
            return masks.pulse_bias(None)
        cursor = self.cursor
        bias = masks.pulse_bias((cursor.step - self.pulse) % STEPS_PER_BEAT)
        to_bar = masks.shift_ids[min(cursor.to_next_bar_line, MAX_SHIFT + 1)]
        if cursor.bar_lines and to_bar >= 0 and bias[to_bar]:
            bias = bias.copy()
            bias[to_bar] = 0.0
        return bias

    def register_bias(self, masks: Masks) -> np.ndarray:
        """Once the running mean of the stream's pitched notes (a few at the target as a
        prior) strays more than REGISTER_SLACK from its target mean pitch, the notes on
        the far side of that mean lean away, the further the more; the near side is left
        alone, so that the music comes back without reaching for its extremes."""
        target = self.targets.get(MEAN_PITCH)
        if target is None:
            return masks.no_lean
        mean, pull = _pull_back(
            self.pitch_total,
            self.pitched,
            target,
            prior=REGISTER_PRIOR_NOTES,
            slack=REGISTER_SLACK,
            gain=REGISTER_GAIN,
            max_gain=REGISTER_MAX_GAIN,
        )
        if not pull:
            return masks.no_lean
        octaves_out = (masks.pitches - mean) * (np.sign(pull) / 12)  # positive: far side
        return np.where(masks.notes & (octaves_out > 0), -abs(pull) * octaves_out, 0.0).astype(
            np.float32
        )

    def range_bias(self, masks: Masks) -> np.ndarray:
        """Notes further below or above the stream's target mean pitch than its reach
        (and RANGE_SLACK more) lean away, by how far past."""
        centre = self.targets.get(MEAN_PITCH)
        below, above = self.targets.get(REACH_BELOW), self.targets.get(REACH_ABOVE)
        if centre is None or below is None or above is None:
            return masks.no_lean
        return masks.window_bias(centre - below, centre + above)

    def ensemble_bias(self, masks: Masks) -> np.ndarray:
        """Once the stream plays as many instruments as its aim, new ones lean away, and
        if it aims at an ensemble, those of it silent for BRING_BACK_STEPS lean back in
        for a phrase (_brought_back), as named instruments do: an ensemble plays
        together, it does not hand the tune on after an opening flourish.

        A continuation's ensemble is the instruments heard in its prime: those
        are brought back, ever more strongly the longer they are silent, and the
        prime file's others may join without leaning away.  Left to the model,
        one of them could take the piece over while the prime's fell silent: of
        54 shared files of several instruments, continued from 10 s to 40 s with
        two seeds, the continuations went on with a mean 84% of their prime's
        instruments, some with none, where the real rest of each file keeps 96%;
        with the lean, 99.5%, and once it grew, 100%."""
        if self.primed:
            if len(self.prime_ensemble) < 2:
                return masks.no_lean
            return self._brought_back(masks, self.prime_ensemble, masks.no_lean)
        target = self.targets.get(INSTRUMENTS)
        if target is None or len(self.played) < max(round(target), 1):
            return masks.no_lean
        bias = masks.new_instruments(frozenset(self.played))
        if round(target) < 2:  # a solo has no ensemble to keep together
            return bias
        return self._brought_back(masks, frozenset(self.played), bias)

    def _brought_back(self, masks: Masks, ensemble: frozenset[int], bias: np.ndarray) -> np.ndarray:
        """``bias`` with the lean that calls back each instrument of ``ensemble`` silent
        for BRING_BACK_STEPS, or back for less than RETURN_PHRASE_STEPS and not heard for
        PHRASE_GAP_STEPS: BRING_IN times its call's strength."""
        called: dict[int, set[int]] = {}
        for instrument in ensemble:
            if strength := self._call(instrument):
                called.setdefault(strength, set()).add(instrument)
        for strength, instruments in called.items():
            bias = bias + masks.silent_instruments(frozenset(instruments), strength)
        if any(self.cursor.program in instruments for instruments in called.values()):
            bias = bias + masks.stay  # brought back: it plays before the tune moves on
        return bias

    def _call(self, instrument: int) -> int:
        """How strongly ``instrument`` is called back now (0: not at all)."""
        step = self.cursor.step
        silent = step - self.last_played[instrument]
        if silent > BRING_BACK_STEPS:
            return self._call_strength(silent)
        back, strength = self.returned.get(instrument, (-RETURN_PHRASE_STEPS, 0))
        in_phrase = step - back < RETURN_PHRASE_STEPS
        heard = self.heard_to.get(instrument, -1) > step - PHRASE_GAP_STEPS
        return strength if in_phrase and not heard else 0

    def _call_strength(self, silent: int) -> int:
        """The multiple of BRING_IN an instrument silent for ``silent`` steps is called
        back with: 1, 2 after LONG_SILENCE_STEPS more, and a prime's one more for each
        BRING_BACK_STEPS, up to PRIME_CALL_MOST."""
        if self.primed:
            return min(silent // BRING_BACK_STEPS, PRIME_CALL_MOST)
        return 1 + (silent > BRING_BACK_STEPS + LONG_SILENCE_STEPS)

    def velocity_bias(self, masks: Masks) -> np.ndarray:
        """In a style that keeps one velocity, once the stream has played a note the other
        VEL bins lean away: no stray accent in a folk tune.  With a MEAN_VELOCITY aim,
        once the running mean of its VEL bins strays from it, they tilt back towards it."""
        if VELOCITY_BINS in self.targets and self.first_velocity is not None:
            return masks.other_velocities(self.first_velocity)
        target = self.targets.get(MEAN_VELOCITY)
        if target is None:
            return masks.no_lean
        _, pull = _pull_back(
            self.velocity_total,
            self.velocities,
            target,
            prior=LOUDNESS_PRIOR_NOTES,
            slack=LOUDNESS_SLACK,
            gain=LOUDNESS_GAIN,
            max_gain=LOUDNESS_MAX_GAIN,
        )
        return masks.loudness * np.float32(-pull) if pull else masks.no_lean

    def density_bias(self, asked: float | None) -> float:
        """A logit bias for note tokens that steers the notes per second towards ``asked``,
        or without it towards the stream's drawn rate (which may stray by DENSITY_SLACK
        first); 0 for neither.

        The measured rate starts at the aim (a prior of a few seconds) so that
        the first notes are not pushed about, then follows the piece: an asked
        or aimed rate the continuation of a prime alone, for a prime is not the
        stream's to change (a prelude's 6 notes per second had kept a
        continuation asked for 2.5 silent to its end).
        """
        aim, slack = asked, 0.0
        notes, seconds = self.notes, self.cursor.seconds
        if aim is None:
            aim, slack = self.targets.get(NOTES_PER_SECOND), DENSITY_SLACK
            if aim is None:
                return 0.0
        if asked is not None or self.aimed:
            notes, seconds = notes - self.prime_notes, seconds - self.prime_seconds
        prior = DENSITY_PRIOR_SECONDS
        rate = (notes + aim * prior) / (seconds + prior)
        return _log_lean(aim, rate, slack, DENSITY_GAIN, DENSITY_MAX_BIAS)

    def chord_bias(self) -> float:
        """A logit bias for notes where one has just started, that steers the notes per
        onset towards the stream's drawn figure; 0 between onsets, or without a figure.

        Notes per second alone leave the chords free: pop streams at the right
        rate played a median 2.2 notes per onset where held-out pop songs play
        1.6 (and so too few onsets, too far apart), and piano streams chords
        where most piano pieces play one line.

        Where a note has just started, the rate's lean (density_bias) bears on
        the same tokens, and the two trade: a stream short of notes adds some to
        its chords too.  Keeping the rate's lean to the first note of a step
        measured worse (over 8 seeds of 16 pieces, folk 0.791 -> 0.748 mean OA).
        """
        aim = self.targets.get(NOTES_PER_ONSET)
        if aim is None or not self.notes_this_step:
            return 0.0
        prior = CHORD_PRIOR_ONSETS
        notes = self.notes - self.prime_notes if self.aimed else self.notes
        size = (notes + aim * prior) / (self.onset_steps + prior)
        return _log_lean(aim, size, CHORD_SLACK, CHORD_GAIN, CHORD_MAX_BIAS)

    def voices(self, masks: Masks) -> tuple[np.ndarray, np.ndarray | None]:
        """The tokens a lean for more or fewer notes (density_bias, chord_bias) moves now,
        and those it leaves out, which lean away instead (STACKED_LINE; None: none): a
        second note on this step of an instrument whose player sounds one note at a time
        (midi.gm.ONE_LINE, Masks.voices).

        Leaning every note alike put 34% of the basses' notes and 41% of the woodwinds'
        in chords (classical and band, 96 pieces), where the corpus has 2% and 5-15% and
        the model alone 3% and 1%: a stream short of notes stacked them on the
        instrument at hand, and a lean against long rests did the same."""
        if self.at_once_step != self.cursor.step:
            return masks.sound_lean, None
        struck = frozenset(program for program in self.at_once if program in ONE_LINE)
        if not struck:
            return masks.sound_lean, None
        return masks.voices(struck, self.cursor.program in struck)

    def allowed(self, masks: Masks, length_reached: bool) -> np.ndarray:
        """Which ids may come next: the grammar's, narrowed by the sampler's limits (and
        right after the header, a style)."""
        if self.style_open:
            return masks.styles | self._allowed(masks, length_reached)
        return self._allowed(masks, length_reached)

    def closing(self, left: float | None) -> bool:
        """Whether the stream, ``left`` steps from its piece's end (None: a length that
        is no time), is in the piece's last CLOSING_BARS bars."""
        # half a step of slack: bars summed step by step drift
        return left is not None and left < CLOSING_BARS * self.cursor.bar_steps + 0.5

    def past_the_end(self, masks: Masks, left: float) -> list[tuple[np.ndarray, int | None]]:
        """The rests and note lengths that would run past the piece's end, each kind with
        the id of the one that stops at the end, to take their share; and in the last
        LAST_ONSET_STEPS of a piece that has sounded, all but the rests.

        A rest of four beats with one left becomes a rest to the end, and a long
        note near the end is held to it, so that a 16-bar piece is 16 bars long
        in a DAW and ``--length 1s`` is not 2 s; and no chord is struck a moment
        before the end only to be cut off.
        """
        cursor, ending = self.cursor, []
        if cursor.expect not in (FREE, DURATION, MORE_DURATION):
            return ending
        rest = math.ceil(left - 1e-6)  # the end: the first step at or after the length
        if cursor.expect != FREE:
            held = cursor.note.length if cursor.note_stage == "duration" else 0
            room = max(rest - held, 0)
            if room < masks.longest_duration:  # a chain at the end stops: no DUR_0 link
                held_to_end = masks.longest_duration_id(room) if room or not held else None
                ending.append((masks.durations > room, held_to_end))
        if rest < MAX_SHIFT and cursor.expect != DURATION:
            ending.append((masks.shifts > rest, masks.shift_ids[max(rest, 1)]))
        if rest < LAST_ONSET_STEPS and cursor.expect == FREE and self.sounded:
            ending.append((~masks.rests, None))  # it rests to the end: no chord cut off
        return ending

    def _limit_pedal_changes(self, masks: Masks, allowed: np.ndarray) -> None:
        """Leaves out of ``allowed`` a second change of the program's pedal on the step
        it changed: after a press, none; after a release, a press again (a re-pedal) but
        no release.  Continuing a pedalled POP909 song, the model once pressed and
        released it 3,582 times on one step (97 KB of MIDI for 125 notes).  A pedal
        token that changes nothing on another step is left to the model: it is
        harmless, and leaving it out moved the draws of pieces that never pedal."""
        changed = self.pedal_changed.get(self.cursor.program)
        if changed is None or changed[0] != self.cursor.step:
            return
        if changed[1]:
            allowed[masks.pedal_on] = False
        if masks.pedal_off is not None:
            allowed[masks.pedal_off] = False

    def _allowed(self, masks: Masks, length_reached: bool) -> np.ndarray:
        expect = self.cursor.expect
        if expect in (VELOCITY, DURATION, FINE):
            return masks.after[expect]
        if expect == BAR_LINE and self.meter_back is not None:  # the prime's meter again
            return masks.alone(self.meter_back, length_reached)
        allowed = masks.after[expect] & masks.playable[self.cursor.program]
        cursor = self.cursor
        if self.lead_in and not self.sounded:  # no silent lead-in
            allowed &= masks.shorter_than[max(self.lead_in_until - cursor.step + 1, 0)]
        if cursor.bar_lines:  # no rest past the next bar line
            allowed &= masks.shorter_than[min(cursor.to_next_bar_line, MAX_SHIFT) + 1]
        if masks.steady and (self.sounded or cursor.step):
            allowed &= ~masks.tempo_changes
        if self.tempo_step == cursor.step:
            allowed &= ~masks.tempos
        if self.meter_step == cursor.step or (masks.barred_meters and not cursor.on_bar_line):
            allowed &= ~masks.meters
        if self.notes_this_step >= MAX_ONSETS_PER_STEP:
            allowed &= ~masks.onsets
        if masks.pedal_on is not None:
            self._limit_pedal_changes(masks, allowed)
        if self.at_once_step == cursor.step:  # no more notes than its players have
            full = [p for p, notes in self.at_once.items() if notes >= MOST_AT_ONCE[p]]
            if full:
                allowed &= masks.not_joining(frozenset(full), cursor.program in full)
        if len(self.programs) >= MAX_PROGRAMS:  # only the programs already in use
            in_use = np.zeros_like(allowed)
            in_use[list(self.programs)] = True
            allowed &= ~masks.programs | in_use
        allowed &= masks.steered
        if length_reached:  # the piece may end; no note starts at or past its end
            allowed &= ~masks.onsets
            allowed |= masks.eos
        return allowed


# -- lengths --------------------------------------------------------------------------------


# the longest piece asked for: an hour of music, or what takes as long to sample
MAX_LENGTH = {"seconds": 3600, "bars": 1000, "tokens": 1_000_000}


@dataclass(frozen=True)
class Length:
    """How long a piece should be: seconds, bars or tokens (the prime included)."""

    amount: float
    unit: str  # "seconds", "bars" or "tokens"; "steps" (of the event grid) for infill

    @classmethod
    def parse(cls, text: str) -> Length:
        """'60s', '60', '16bars', '2000tokens', '1.5m', '1h'.

        Raises:
            MidiError: not a length, or not positive.
        """
        cleaned = text.strip().lower()
        for suffix, unit, scale in (
            ("tokens", "tokens", 1),
            ("bars", "bars", 1),
            ("bar", "bars", 1),
            ("s", "seconds", 1),
            ("m", "seconds", 60),
            ("h", "seconds", 3600),
        ):
            if cleaned.endswith(suffix):
                cleaned, chosen, factor = cleaned[: -len(suffix)], unit, scale
                break
        else:
            chosen, factor = "seconds", 1
        try:
            amount = float(cleaned) * factor
        except ValueError:
            raise MidiError(f"length {text!r} is not like 60s, 16bars or 2000tokens") from None
        if not amount > 0 or amount == float("inf"):
            raise MidiError(f"length {text!r}: it must be positive and finite")
        if amount > MAX_LENGTH[chosen]:
            raise MidiError(f"length {text!r}: at most {MAX_LENGTH[chosen]:g} {chosen}")
        return cls(amount, chosen)

    def done(self, stream: Stream) -> float:
        """How much of the length the stream has played, in its unit."""
        unit, cursor = self.unit, stream.cursor
        if unit == "seconds":
            return cursor.seconds
        if unit == "bars":
            return cursor.bars
        return stream.tokens if unit == "tokens" else cursor.step

    def reached(self, stream: Stream) -> bool:
        return self.done(stream) >= self.amount - 1e-9  # seconds summed step by step drift

    def steps_left(self, cursor: Cursor) -> float | None:
        """Grid steps from the cursor to the piece's end at its tempo and meter, or None
        when the length is no time (tokens) or an infill's span (its notes may ring on
        into the music after it, as written music's do)."""
        if self.unit == "seconds":
            beats = (self.amount - cursor.seconds) * MICROSECONDS / cursor.tempo_us
            return beats * STEPS_PER_BEAT
        if self.unit == "bars":
            return (self.amount - cursor.bars) * cursor.bar_steps
        return None

    def token_budget(self) -> int:
        """A hard stop for a model that never moves time on, the prime's tokens included:
        room for MAX_DENSITY notes a second, of up to 4 tokens each, over bars of 2 s
        and steps at 120 bpm.  (At 120 tokens a second, continuations of rock songs
        with drums, 38 notes a second, stopped at 27.6 s of 30.)"""
        per_second = 4 * MAX_DENSITY
        per_unit = {"seconds": per_second, "bars": 2 * per_second, "tokens": 1, "steps": 6}
        return int(self.amount * per_unit[self.unit]) + 512


# -- sampling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """How to draw each token: temperature, then top-k, then top-p (nucleus)."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise MidiError("temperature must be positive")
        if not 0 < self.top_p <= 1:
            raise MidiError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise MidiError("top_k must be 0 (no limit) or more")


def sample_tokens(
    stepper: Stepper,
    vocab: Vocab,
    prime: list[str],
    *,
    length: Length,
    sampling: Sampling,
    steering: Steering = Steering(),
    streams: int = 1,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[list[str]]:
    """Continue ``prime`` (event tokens) in ``streams`` independent streams, sampled as one batch.

    ``progress`` hears, every PROGRESS_EVERY draws and once done, the share of the
    length past the prime that the slowest unfinished stream has played (an hour of
    four band pieces took 7 minutes).

    The matrix products of fewer than four streams run on as many BLAS
    threads as run them fastest at the time (``ThreadTuned``): two on an idle
    2-core machine, one while another process keeps a core busy.  More
    streams run on two.

    Raises:
        MidiError: the prime does not start with the event header.
    """
    if not prime or prime[0] != HEADER:
        raise MidiError(f"event tokens start with {HEADER}")
    with ThreadTuned(stepper, streams) as steps:
        masks = Masks(vocab, steering)
        rng = np.random.default_rng(seed)
        # no music yet: the header alone, or with conditioning tokens (a style)
        kinds = [_parsed(token)[0] for token in prime[1:]]
        unprimed = all(kind in NAMED_KINDS for kind in kinds)
        # and no note yet: a prime cut before its first note (its tempo and meter, a rest)
        # begins as music from scratch does, by the beat after its end, or it may rest to
        # the end (--prime-seconds 0 of a tune whose guitar enters on beat 2 gave 60 s and
        # no note: its program change had been cut off with its notes, and the model
        # seldom brings one in)
        silent = not any(kind in ("NOTE", "DRUM") for kind in kinds)
        # music from scratch keeps the written grid's pulse; a prime's is found in its notes
        pulse = 0 if silent and masks.settle_pulse else None
        runs = [
            Stream(
                Cursor(bar_lines=masks.bar_lines),
                lead_in=silent,
                style_open=len(prime) == 1,
                pulse=pulse,
                key=masks.kept_key,
                ranks=tuple(ranks),
                targets=masks.targets(None, ranks),
            )
            for ranks in _draw_ranks(rng, streams, masks.quantiles)
        ]
        outputs = [list(prime) for _ in range(streams)]
        # the prime is every stream's: the network reads it once, as one stream, on the
        # BLAS threads that read fastest (the sampling's own tuning counts sampling steps,
        # each with the sampler's work on it)
        state = stepper.initial_state(1)
        with ThreadTuned(stepper, 1) as reader:
            for position, token_id in enumerate(vocab.tokens_to_ids(prime)):
                logits = reader.step(np.array([token_id]), state)
                if position:
                    for run in runs:
                        run.advance(token_id, masks)
        state = [np.repeat(part, streams, axis=-1) for part in state]
        logits = np.repeat(logits, streams, axis=0)
        if not unprimed:
            for run in runs:
                run.follow_prime(masks)
        budget = length.token_budget()
        primed = min(length.done(run) for run in runs)  # the prime's share is no work
        for draws in count():
            if progress is not None and draws % PROGRESS_EVERY == 0:
                slowest = min((length.done(run) for run in runs if not run.finished), default=0)
                share = (slowest - primed) / max(length.amount - primed, 1e-9)
                progress(min(max(share, 0.0), 1.0))
            active, allowed = [], []
            for k, run in enumerate(runs):
                if run.finished:
                    continue
                reached = length.reached(run)
                if (reached and run.cursor.expect == FREE) or run.tokens >= budget:
                    run.finished = True
                    continue
                active.append(k)
                allowed.append(run.allowed(masks, reached))
            if not active:
                break
            scores = logits[active]
            if masks.leans:
                scores = scores + np.stack([runs[k].lean(masks) for k in active])
            allowed = np.array(allowed)
            lefts = [length.steps_left(runs[k].cursor) for k in active]  # None: no time
            if masks.pitch_leans:
                leans = [
                    runs[k].pitch_lean(masks, runs[k].closing(left))
                    for k, left in zip(active, lefts, strict=True)
                ]
                if any(lean is not masks.no_lean for lean in leans):  # a note may come next
                    scores = lean_within(scores, np.stack(leans), allowed & masks.notes)
            if masks.leans_rate or masks.keeps_chords or masks.leans:
                scores = lean_for_notes(scores, allowed, [runs[k] for k in active], masks)
            for row, (k, left) in enumerate(zip(active, lefts, strict=True)):
                for past, at_end in runs[k].past_the_end(masks, left) if left is not None else ():
                    stop_at_end(scores[row], allowed[row], past, at_end, sampling.temperature)
            chosen = np.zeros(streams, dtype=np.int64)
            chosen[active] = draw(scores, allowed, sampling, rng)
            for k in active:
                if chosen[k] == masks.eos_id:
                    runs[k].finished = True
                    continue
                outputs[k].append(vocab.tokens[chosen[k]])
                runs[k].advance(chosen[k], masks)
            if all(run.finished for run in runs):
                break
            logits = steps.step(chosen, state)
    if progress is not None:
        progress(1.0)
    return outputs


STYLE_EVIDENCE_TOKENS = 256  # of a prime: a few bars tell a folk tune from a pop song


def likeliest_style(stepper: Stepper, vocab: Vocab, tokens: list[str]) -> str | None:
    """The STYLE_ token under which the model finds ``tokens`` (event tokens from the
    header on, without a style) likeliest, its own prior for the style included; None
    for a model without styles.

    A continuation or an infill then starts as every piece the model learned
    from did, with the header and its style, instead of a header alone that
    it never saw.  The styles are scored as one batch, over the first
    ``STYLE_EVIDENCE_TOKENS`` tokens.
    """
    styles = [token for token in vocab.tokens if token.startswith(STYLE_PREFIX)]
    if not styles:
        return None
    ids = vocab.tokens_to_ids(tokens[: STYLE_EVIDENCE_TOKENS + 1])
    streams = len(styles)
    state = stepper.initial_state(streams)
    inputs = [np.full(streams, ids[0]), vocab.tokens_to_ids(styles)]
    inputs += [np.full(streams, token_id) for token_id in ids[1:]]
    totals = np.zeros(streams)
    with ThreadTuned(stepper, streams) as steps:
        for given, scored in pairwise(inputs):
            logits = steps.step(given, state)
            totals += log_softmax(logits)[np.arange(streams), scored]
    return styles[int(np.argmax(totals))]


def lean_for_notes(
    scores: np.ndarray, allowed: np.ndarray, runs: list[Stream], masks: Masks
) -> np.ndarray:
    """``scores`` with each stream's density and chord leans (Stream.density_bias,
    Stream.chord_bias) added to the tokens they move (Stream.voices), and a second
    note of a one-line instrument on one step leaning away (STACKED_LINE)."""
    voices = [run.voices(masks) for run in runs]
    bias = np.array(
        [run.density_bias(masks.asked_rate) if masks.leans_rate else 0.0 for run in runs]
    )
    chords = np.array([run.chord_bias() if masks.keeps_chords else 0.0 for run in runs])
    held = np.array([stacking is not None for _, stacking in voices])
    if not held.any():  # the common case: every sound is leant alike
        if masks.leans_rate:
            scores = scores + np.outer(bias, masks.density_lean).astype(scores.dtype)
        if chords.any():  # between onsets there is no chord bias
            scores = scores + np.outer(chords, masks.sound_lean).astype(scores.dtype)
        return scores
    more = np.stack([lean for lean, _ in voices])
    lean = bias[:, None] * (more - masks.rest_lean) + chords[:, None] * more
    stacking = np.stack([stacking for _, stacking in voices if stacking is not None])
    scores = scores.copy()
    scores[~held] += lean[~held].astype(scores.dtype)
    scores[held] = lean_within(scores[held], lean[held], allowed[held] & ~stacking)
    scores[held] += np.where(stacking, np.float32(STACKED_LINE), np.float32(0.0))
    return scores


def lean_within(scores: np.ndarray, lean: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``scores`` with ``lean`` added to each row's ``members`` (booleans, same shape),
    and the members then shifted together so that their total probability stays what
    it was: the lean chooses which member, never whether one."""
    inside = np.where(members, scores, -np.inf)
    leaned = inside + lean
    with np.errstate(invalid="ignore"):  # a row with no members: -inf - -inf
        top = np.maximum(inside.max(axis=1), leaned.max(axis=1))[:, None]
        before = np.log(np.exp(inside - top).sum(axis=1))
        after = np.log(np.exp(leaned - top).sum(axis=1))
    shift = np.where(np.isfinite(top[:, 0]), before - after, 0.0)[:, None]
    return scores + np.where(members, lean + shift, 0.0).astype(scores.dtype)


def stop_at_end(
    scores: np.ndarray,
    allowed: np.ndarray,
    past: np.ndarray,
    at_end: int | None,
    temperature: float,
) -> None:
    """Give the allowed tokens in ``past`` (running past the end) their probability at
    ``temperature`` on token ``at_end`` instead, and forbid them, in place (one row)."""
    spill = allowed & past
    if at_end is not None and allowed[at_end] and spill.any():
        pooled = np.append(scores[spill], scores[at_end]).astype(np.float64) / temperature
        top = pooled.max()
        scores[at_end] = temperature * (top + np.log(np.exp(pooled - top).sum()))
    allowed &= ~past


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Each row's log-probabilities, in float64 (a long sum of them stays exact enough)."""
    scores = logits.astype(np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


def draw(
    logits: np.ndarray, allowed: np.ndarray, sampling: Sampling, rng: np.random.Generator
) -> np.ndarray:
    """One id per stream from its allowed tokens, with temperature, top-k and top-p.

    ``logits`` and ``allowed`` are (streams, vocab); every row needs at least
    one allowed token.  The whole batch is drawn with a few array operations,
    so sampling 16 streams costs little more Python than sampling one.  Each
    stream takes one uniform number from ``rng``, in order, and picks the
    first token whose cumulative probability exceeds it, as Generator.choice
    does: by id, or from the likeliest down when top-p sorted them.  Tokens
    tied at the k-th score all stay in the top k.
    """
    scores = np.where(allowed, logits.astype(np.float64) / sampling.temperature, -np.inf)
    if sampling.top_k and sampling.top_k < scores.shape[1]:
        kth = np.partition(scores, -sampling.top_k, axis=1)[:, -sampling.top_k, None]
        scores[scores < kth] = -np.inf
    scores -= scores.max(axis=1, keepdims=True)
    probabilities = np.exp(scores)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    order = None
    if sampling.top_p < 1.0:  # the fewest likeliest tokens that cover top_p
        order = np.argsort(-probabilities, axis=1, kind="stable")
        probabilities = np.take_along_axis(probabilities, order, axis=1)
        covered = np.cumsum(probabilities, axis=1)
        kept = (covered < sampling.top_p).sum(axis=1, keepdims=True) + 1
        probabilities[np.arange(probabilities.shape[1]) >= kept] = 0.0
        probabilities /= probabilities.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    uniform = rng.random(len(cumulative))
    picked = (cumulative <= uniform[:, None]).sum(axis=1)
    if order is None:
        return picked
    return order[np.arange(len(picked)), picked]
