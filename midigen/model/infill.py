"""song + span -> the same song with the notes that start inside the span written anew.

A unidirectional LSTM cannot read what comes after a gap, so infilling
samples and then listens ahead (the "generate, then rerank" recipe):

1. The song becomes event tokens, cut where the span starts.  Everything
   before is the prompt, with the style under which the model finds the
   song likeliest (a model that learned styles saw one in every piece).
2. K candidates continue the prompt up to the end of the span, in the
   song's instruments, tempo and meter, leaning to the key of the music on
   both sides of the span (``key_around``) and aiming at its register,
   range, rate, chords and loudness (``around``), not at the prompt's alone.
3. Each candidate is followed by the song's real tokens after the span, and
   the model scores them: the candidate under which what follows is most
   likely is the one that leads into it best.  K costs K times the
   sampling of the span and the scoring of the next SCORED_TOKENS tokens.
4. The output is the original file, edited: the notes that start inside the
   span are taken out (note-on and note-off), the chosen candidate's notes
   put in.  Every other event of every track keeps its time and bytes, so
   the music outside the span is exactly as it was, and notes that start
   before the span and ring into it stay.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.openings import (
    MEAN_PITCH,
    MIN_NOTES,
    NOTES_PER_ONSET,
    NOTES_PER_SECOND,
    REACH_ABOVE,
    REACH_BELOW,
)
from ..errors import MidiError, count
from ..midi.gm import Instruments
from ..midi.keys import Key, fitting_key
from ..midi.song import Song, Track, delta_rows, format_with_tracks, is_note_on, timed_rows
from ..midi.timing import TempoMap, track_length_ticks
from ..tokens import tokenize
from ..tokens.event import (
    MAX_REST_STEPS,
    event_tokens_until,
    split_event_tokens,
    ticks_per_step,
)
from ..tokens.grammar import (
    BIN_MIDDLES,
    DRUMS,
    Cursor,
    Note,
    Score,
    bar_steps,
    has_bar_lines,
    velocity_bin,
    walk,
)
from .parts import (
    channels_used,
    likeliest,
    new_part,
    note_offs,
    song_parts,
    top_notes,
    with_events,
)
from .sample import (
    MEAN_VELOCITY,
    Length,
    Sampling,
    Steering,
    likeliest_style,
    log_softmax,
    sample_tokens,
)
from .stepper import Stepper, ThreadTuned

SCORED_TOKENS = 256  # how much of what follows the span judges a candidate
MAX_CANDIDATES = 64


@dataclass(frozen=True)
class Span:
    """The part of a song to regenerate: bars (1-based, both included) or seconds."""

    first: float
    last: float
    unit: str  # "bars" or "seconds"

    def __post_init__(self) -> None:
        text = f"{self.first:g}-{self.last:g}"
        if not (math.isfinite(self.first) and math.isfinite(self.last)):
            raise MidiError(f"span {text!r} is not like 5-8")
        if self.unit == "bars" and (
            self.first != int(self.first) or self.last != int(self.last) or self.first < 1
        ):
            raise MidiError(f"bars {text!r}: bars are whole numbers from 1")
        if self.first > self.last or (
            self.unit == "seconds" and (self.first < 0 or self.first == self.last)
        ):
            raise MidiError(f"span {text!r} runs backwards or is empty")

    @classmethod
    def parse(cls, text: str, unit: str) -> Span:
        """'5-8' (bars 5 to 8) or '10-20' (seconds), or a single bar '5'.

        Raises:
            MidiError: not a span, or it runs backwards.
        """
        low, _, high = text.partition("-")
        try:
            first, last = float(low), float(high or low)
        except ValueError:
            raise MidiError(f"span {text!r} is not like 5-8") from None
        return cls(first, last, unit)

    def steps(self, tokens: list[str], score: Score, end: int, seconds: float) -> tuple[int, int]:
        """[start, stop) in steps of the event grid of these tokens, for a song that lasts
        ``end`` steps and ``seconds`` (its music, or its silence after, to its End of
        Track: empty bars at the end can be filled too).

        Raises:
            MidiError: the span runs past the end of the song.
        """
        if self.unit == "bars":
            # bar k spans starts[k - 1] to starts[k]
            starts = _bar_starts(score, end, most=int(self.last))
            if self.last > len(starts) - 1:
                raise MidiError(
                    f"the song has {count(len(starts) - 1, 'bar')}; "
                    f"bars {self.first:.0f}-{self.last:.0f} run past its end"
                )
            # the last bar may be cut short by the song's end, and stays so
            start = starts[int(self.first) - 1]
            return start, max(min(starts[int(self.last)], end), start + 1)
        start = _step_from(tokens, self.first)
        if start >= end or seconds < self.last:
            raise MidiError(
                f"the song ends at {seconds:.1f} s; "
                f"{self.first:.10g}-{self.last:.10g} s runs past it"
            )
        return start, max(_step_from(tokens, self.last), start + 1)


def _step_from(tokens: list[str], seconds: float) -> int:
    """The first grid step at or after ``seconds``: a span's bounds, so that a note that
    starts before the span is never taken for one in it (8.26-12 s, with the grid's
    nearest step, regenerated a note at 8.25 s); past the tokens' end, at their last
    tempo."""
    cursor = walk(event_tokens_until(tokens, seconds))  # the nearest step, or the last
    late = seconds - cursor.seconds
    if late <= 1e-9:
        return cursor.step
    return cursor.step + max(1, math.ceil(late / (cursor.seconds_after(1) - cursor.seconds) - 1e-9))


def infill(
    stepper: Stepper,
    vocab,
    song: Song,
    span: Span,
    *,
    candidates: int = 8,
    sampling: Sampling | None = None,
    seed: int | None = None,
    velocities: tuple[int, ...] = BIN_MIDDLES,
    progress: Callable[[float], None] | None = None,
) -> Song:
    """The song with the notes that start inside ``span`` regenerated (see the module text).

    ``velocities``: what each VEL bin plays (the model's table; by default its middle).
    ``progress``: hears the share of the candidates' sampling done (sample_tokens).

    Raises:
        MidiError: the song has no usable time base, the span is
            outside it, or ``candidates`` is out of range.
    """
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise MidiError(f"candidates must be between 1 and {MAX_CANDIDATES}")
    tokens, score, start, stop = _located(song, span, bars=has_bar_lines(vocab.ids))
    near = music_around(tokens, start, stop)
    aims, key = around(near), key_around(near)
    if style := likeliest_style(stepper, vocab, tokens):
        tokens.insert(1, style)
    prompt, _ = split_event_tokens(tokens, start)
    _, after = split_event_tokens(tokens, stop)
    played = {note.instrument for note in score.notes}
    steering = Steering(
        instruments=Instruments(frozenset(played - {DRUMS}), DRUMS in played) if played else None,
        keep_tempo=True,
        aims=aims,
        kept_key=key,
    )
    streams = sample_tokens(
        stepper,
        vocab,
        prompt,
        length=Length(stop, "steps"),
        sampling=sampling or Sampling(),
        steering=steering,
        streams=candidates,
        seed=seed,
        progress=progress,
    )
    middles = [split_event_tokens(stream, stop)[0][len(prompt) :] for stream in streams]
    best = _best(stepper, vocab, prompt, middles, after[:SCORED_TOKENS])
    new_notes = Score(velocities=velocities)
    walk(prompt + middles[best], new_notes)
    notes = [note for note in new_notes.notes if start <= note.start < stop]
    for note in notes:  # end by the span's end: what follows it is the song's own
        note.length = min(note.length, stop - note.start)
    return _edited(song, start, stop, notes)


def around(near: Surroundings | None) -> dict[str, float]:
    """What the music around a span is like (Steering.aims): the mean pitch of its
    pitched notes and their reach below and above it, its notes per second and per
    onset, and its mean VEL bin; {} where the song has too few notes (None).

    Candidates that went on from the prompt alone played as it began: bars 5-8 of
    Tchaikovsky's June, between four soft, low bars and louder ones, came out at
    velocity 27-41 and a mean pitch of 48-58, where the song plays them at 69 and
    63, and the four bars after them at 69 and 62.  Aimed at the prompt's figures
    instead, one candidate played 309 notes in the four bars, for the prompt's few
    notes set its rate.
    """
    if near is None:
        return {}
    notes = near.notes
    pitched = [note.pitch for note in notes if note.instrument != DRUMS]
    mean = float(np.mean(pitched))
    return {
        MEAN_PITCH: mean,
        REACH_BELOW: mean - min(pitched),
        REACH_ABOVE: max(pitched) - mean,
        NOTES_PER_SECOND: len(notes) / max(near.seconds, 1.0),
        NOTES_PER_ONSET: len(notes) / len({note.start for note in notes}),
        MEAN_VELOCITY: float(np.mean([velocity_bin(note.velocity) for note in notes])),
    }


def key_around(near: Surroundings | None) -> Key | None:
    """The key of the pitched notes around a span, as fitting_key finds it with each
    note weighed by its length; None where the song has too few notes (None).

    Candidates free of any key played what the model liked after the prompt: bars
    9-12 of a pop-punk song 100% in D minor came out 100% in Db major."""
    if near is None:
        return None
    counts, weights = [0] * 12, [0] * 12
    for note in near.notes:
        if note.instrument != DRUMS:
            counts[note.pitch % 12] += 1
            weights[note.pitch % 12] += note.length
    return fitting_key(counts, weights if any(weights) else None)


@dataclass
class Surroundings:
    """The notes around a span, and the seconds they span."""

    notes: list[Note]
    seconds: float


def music_around(tokens: list[str], start: int, stop: int) -> Surroundings | None:
    """The music around the span [start, stop) steps of these event tokens: that of as
    many steps on each side as the span has, or of the whole song but the span where
    those hold fewer than MIN_NOTES pitched notes; None where the song has fewer still."""
    score = Score()
    cursor = Cursor(score)
    clock = [(0, 0.0)]  # (step, seconds) wherever the cursor has moved, and the music's end
    for token in tokens:
        cursor.feed_token(token)
        if cursor.step != clock[-1][0]:
            clock.append((cursor.step, cursor.seconds))
    cursor.finish()
    end = max([cursor.step, *(note.start + note.length for note in score.notes)])
    clock.append((end, cursor.seconds_after(end - cursor.step)))
    width = stop - start
    for sides in (
        [(max(start - width, 0), start), (stop, min(stop + width, end))],
        [(0, start), (stop, end)],
    ):
        near = [
            note for note in score.notes if any(low <= note.start < high for low, high in sides)
        ]
        if sum(note.instrument != DRUMS for note in near) >= MIN_NOTES:
            break
    else:
        return None
    steps, seconds = zip(*clock, strict=True)
    lasting = sum(
        float(np.interp(high, steps, seconds) - np.interp(low, steps, seconds))
        for low, high in sides
    )
    return Surroundings(near, lasting)


def span_ticks(song: Song, span: Span) -> tuple[int, int]:
    """[first, last) ticks of the span in the song.

    Raises:
        MidiError: as ``infill`` does for a span outside the song.
    """
    _, _, start, stop = _located(song, span)
    return _tick(song, start), _tick(song, stop)


def _located(song: Song, span: Span, bars: bool = True) -> tuple[list[str], Score, int, int]:
    """The song's event tokens (with BAR tokens if ``bars``), what they say, and the span's
    [start, stop) steps."""
    tokens = tokenize(song, "event", bars)  # raises for a song with no time base
    score = Score()
    cursor = walk(tokens, score)
    # the song lasts to its last End of Track, which may come after its music: as far as
    # the longest silence the tokens keep (a broken file's End of Track years on would
    # have a span sampled for hours)
    end = max([cursor.step, *(n.start + n.length for n in score.notes)])
    ticks = max((track_length_ticks(track) for track in song.tracks), default=0)
    ticks = min(ticks, math.floor((end + MAX_REST_STEPS) * ticks_per_step(song)))
    end = max(end, math.ceil(ticks / ticks_per_step(song) - 1e-9))
    try:
        seconds = max(cursor.seconds, TempoMap(song).seconds(ticks))
    except MidiError:  # a tempo map that cannot be read: the tokens' time
        seconds = cursor.seconds
    start, stop = span.steps(tokens, score, end, seconds)
    return tokens, score, start, stop


def _tick(song: Song, step: int) -> int:
    """A grid step's tick: of a quarter note's ticks, or of an SMPTE time base's, whose
    steps the tokens count at 120 bpm."""
    return round(step * ticks_per_step(song))


def _best(stepper: Stepper, vocab, prompt: list[str], middles: list[list[str]], after) -> int:
    """The candidate under which the model finds the real continuation likeliest."""
    if not after or len(middles) == 1:
        return 0
    with ThreadTuned(stepper, 1) as steps:
        state = stepper.initial_state(1)
        for token_id in vocab.tokens_to_ids(prompt[:-1]):
            steps.step(np.array([token_id]), state)
        after_ids = vocab.tokens_to_ids(after)
        scores = []
        for middle in middles:
            branch = [part.copy() for part in state]
            logits = None
            for token_id in vocab.tokens_to_ids([prompt[-1], *middle]):
                logits = steps.step(np.array([token_id]), branch)
            total = 0.0
            for token_id in after_ids:
                total += log_softmax(logits)[0, token_id]
                logits = steps.step(np.array([token_id]), branch)
            scores.append(total)
    return int(np.argmax(scores))


def _bar_starts(score: Score, end: int, most: int) -> list[int]:
    """The step where each bar begins under the song's time signatures, bar 1 at step 0,
    up to the start of the bar after the last one before ``end`` (a song of no steps has
    none), or of bar ``most``."""
    signatures = {step: (n, d) for step, n, d in score.time_signatures}
    starts, step, meter = [], 0, signatures.get(0, (4, 4))
    while step < end and len(starts) < most:
        starts.append(step)
        length = bar_steps(*meter)
        changes = [at for at in signatures if step < at < step + length]
        step = changes[0] if changes else step + length
        meter = signatures.get(step, meter)
    starts.append(step)
    return starts


def _edited(song: Song, start: int, stop: int, notes: list[Note]) -> Song:
    """The song without its notes starting in [start, stop) steps, and with ``notes`` added."""
    first, last = _tick(song, start), _tick(song, stop)
    tracks = [_without_notes(track, first, last) for track in song.tracks]
    parts = song_parts(song.tracks)  # an instrument that plays in the span alone keeps its track
    added: dict[int, list[tuple[int, int, bytes]]] = defaultdict(
        list
    )  # track -> (tick, status, data)
    busy = _sounding(tracks)
    for note, top in zip(notes, top_notes(notes), strict=True):
        if note.instrument not in parts:
            parts[note.instrument] = [new_part(tracks, note.instrument, channels_used(song.tracks))]
        part = parts[note.instrument][likeliest(parts[note.instrument], note.pitch, top)]
        index, channel = part.track, part.channel
        on = _tick(song, note.start)
        off = max(_tick(song, note.start + note.length), on + 1)
        # one key of one channel sounds once: a kept note of that key wins.  At a tick two
        # tracks share, players take the tracks in turn, so a note-off and a note-on of
        # that key there, in two tracks, keep a tick apart: else the note-off could come
        # second, and end the note just struck
        kept = busy[(channel, note.pitch)]
        if any(start <= on < end for start, end, _ in kept):
            continue
        on += any(end == on and track != index for _, end, track in kept)
        off = min([off, *(start - (track != index) for start, _, track in kept if on < start)])
        if off <= on:
            continue
        kept.append((on, off, index))
        added[index].append((on, 0x90 | channel, bytes((note.pitch, note.velocity))))
        added[index].append((off, 0x80 | channel, bytes((note.pitch, 0))))
    for index, events in added.items():
        tracks[index] = with_events(tracks[index], events)
    edited = Song(
        format=format_with_tracks(song.format, len(tracks)),
        division=song.division,
        tracks=tracks,
        header_extra=song.header_extra,
        chunks=song.chunks,
        trailing=song.trailing,
        riff=song.riff,
    )
    return edited


def _without_notes(track: Track, first: int, last: int) -> Track:
    """The track without the notes whose note-on falls in [first, last) ticks, nor the
    note-offs that end only those (``note_offs``): a note-off that also ends a note kept
    ends it where it did.

    A key struck twice and released twice (on, on, off, off: a doubled drum hit) is two
    notes ended by the first note-off, and the second ends nothing.  A player pairs it
    with the second strike, so it goes when that does: left, it stood alone in the
    output, and would cut short a new note of that key sounding over it."""
    timed = timed_rows(track)
    removed = {
        k
        for k, (at, status, data, _) in enumerate(timed)
        if first <= at < last and is_note_on(status, data)
    }
    ends = note_offs(timed)
    removed |= {off for off, ons in ends.items() if ons and ons <= removed}
    struck_last: dict[tuple[int, int], int] = {}  # (channel, key) -> its latest note-on row
    for k, (_, status, data, _) in enumerate(timed):
        if is_note_on(status, data):
            struck_last[(status & 0x0F, data[0])] = k
        elif k in ends and not ends[k] and struck_last.get((status & 0x0F, data[0])) in removed:
            removed.add(k)
    return Track(delta_rows(row for k, row in enumerate(timed) if k not in removed), track.trailing)


def _sounding(tracks: list[Track]) -> defaultdict[tuple[int, int], list[tuple[int, int, int]]]:
    """(channel, key) -> the [on, off) ticks of its notes in any track (the tracks of one
    instrument may share a channel), as ``note_offs`` pairs them, and their track."""
    intervals: defaultdict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for index, track in enumerate(tracks):
        timed = timed_rows(track)
        for off, ons in note_offs(timed).items():
            at, status, data, _ = timed[off]
            key = (status & 0x0F, data[0])
            intervals[key] += [(timed[on][0], at, index) for on in sorted(ons)]
    return intervals
