"""prime + sampled tokens -> the prime's own file up to where the model took over, then its music.

A continuation's tokens begin with the prime's, but tokens keep less than
the file: notes on a grid of 24 steps a beat, in 16 loudness bins, one
note where two tracks of one instrument play a key together, pedal, tempo
and meter.  So the prime is not decoded from them: the output is the prime
file itself, cut where its kept part ends.  Every event of every track
before the cut stays as it was (timing, velocities, controllers, pitch
bend, names, channels), and so do the notes it holds over the cut, to
their own note-offs.  The sampled notes, pedal and (``--free``) tempi and
meters follow in the prime's tracks, each note in the one that plays its
instrument in its register (parts.py), as an infill writes its span.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..midi.keys import Key, key_signature_data, notated_key, with_key_signature
from ..midi.smf import (
    BEND_CENTRE,
    CONTROL_CHANGE,
    DEFAULT_TEMPO_US,
    END_OF_TRACK,
    KEY_SIGNATURE,
    META,
    NOTE_OFF,
    NOTE_ON,
    PITCH_BEND,
    PROGRAM_CHANGE,
    SET_TEMPO,
    TIME_SIGNATURE,
    is_broken_meta,
    meter_data,
    tempo_data,
)
from ..midi.song import (
    Song,
    Track,
    delta_rows,
    format_with_tracks,
    is_end_of_track,
    is_note_on,
    timed_rows,
    with_meta_at_start,
)
from ..midi.timing import conducts, track_length_ticks, without_conductor
from ..tokens.event import (
    MELODIC_CHANNELS,
    OUTPUT_TPQ,
    PEDAL_DOWN,
    SUSTAIN,
    TICKS_PER_STEP,
    file_step,
    grid_step,
    ticks_per_step,
)
from ..tokens.grammar import BIN_MIDDLES, DRUMS, Note, Score, walk
from .parts import (
    Part,
    channels_used,
    likeliest,
    new_part,
    song_parts,
    top_notes,
    with_events,
)

END = bytes((END_OF_TRACK,))

# (track, channel) -> (instrument, tick of its first new note)
FirstNotes = dict[tuple[int, int], tuple[int, int]]
# (channel, key) -> the notes of that key after the cut
Sounding = defaultdict[tuple[int, int], list["_Held"]]


@dataclass
class _Held:
    """A note of one channel's key after the cut: a new one (with its velocity), or one
    the prime holds over the cut (with its own note-off, status and data, to keep its
    release velocity; its note-on stays where it is)."""

    on: int
    off: int
    track: int
    velocity: int | None = None
    note_off: tuple[int, bytes] | None = None


def continued(
    prime: Song,
    prompt: list[str],
    tokens: list[str],
    *,
    ring_steps: int = 0,
    velocities: tuple[int, ...] = BIN_MIDDLES,
    shortened: Sequence[tuple[int, int]] = (),
    whole: bool = False,
    key: Key | None = None,
) -> Song:
    """The prime file up to the end of ``prompt`` (the tokens of it the model read), then
    what ``tokens`` (``prompt`` and what the model added) go on to play.

    ``ring_steps``: no note rings more than that many steps past the last time
    step, as in ``event_tokens_to_song``; ``velocities``: what each VEL bin
    plays; ``shortened``: the silences the prime's tokens shortened
    (``song_to_event_tokens``), whose steps the file still has; ``whole``: the
    prompt is the whole prime, whose last meta events (a marker, a lyric) stay
    too; ``key``: the key the new music was asked to play in, notated from the cut.

    Raises:
        MidiError: the prime has no usable time base.
    """
    prime = _in_beats(prime)
    before, after = Score(), Score(velocities=velocities)
    cut = walk(prompt, before).step
    end = walk(tokens, after).step
    scale = ticks_per_step(prime)
    silences = [silence for silence in shortened if silence[0] <= cut]  # the prime's, before

    def tick(step: int) -> int:
        return round(file_step(silences, step) * scale)

    # the prompt holds the events of its last step if it stopped after them, not in a rest
    settings = (*before.pedals, *before.tempi, *before.time_signatures)
    at_cut = any(n.start == cut for n in before.notes) or any(s[0] == cut for s in settings)
    last_step = file_step(silences, cut if at_cut else cut - 1)
    tracks, sounding = _cut(prime, last_step, tick(cut), whole)
    for held in (note for group in sounding.values() for note in group):
        held.off = min(held.off, tick(end + ring_steps))  # it stops with the piece at the latest
    notes = after.notes[len(before.notes) :]
    for note in notes:
        note.length = min(note.length, max(end + ring_steps - note.start, 0))
    channels, first = _placed(prime, tracks, notes, tick, sounding)
    added: defaultdict[int, list[tuple[int, int, bytes]]] = defaultdict(list)
    _play(sounding, added, same=max(round(scale / 2), 1))
    _set_up_channels(tracks, first, added)
    meter_track = _meter_track(prime, tracks)
    _add_settings(prime, before, after, channels, tick, added, meter_track)
    if key is not None:
        pitched = {index for (index, _), (instrument, _) in first.items() if instrument != DRUMS}
        tracks = _notated(tracks, key, tick(cut), pitched, added)
    for index, events in added.items():
        tracks[index] = with_events(tracks[index], events)
    return _played_together(
        Song(
            format=format_with_tracks(prime.format, len(tracks)),
            division=prime.division,
            tracks=_ended(tracks, tick(end), meter_track),
        )
    )


def _played_together(song: Song) -> Song:
    """A format 2 song as format 1, as midigen reads and continues it: its sequences
    played together to the first one's tempo and meter, whose Set Tempo and Time
    Signature events the others lose (in format 1 every track's would rule).  timidity
    plays format 2's sequences one after another: a 60 s continuation of a format 2
    prime played 152.6 s there, 44.5 s in FluidSynth."""
    if song.format != 2:
        return song
    tracks = [
        track if conducts(song, index) else without_conductor(track)
        for index, track in enumerate(song.tracks)
    ]
    return Song(format=1, division=song.division, tracks=tracks)


def _in_beats(prime: Song) -> Song:
    """The prime in beats of OUTPUT_TPQ ticks at 120 bpm if it is timed in SMPTE frames, as
    its tokens read it, each event at its own second: a file of beats is what DAWs and
    pretty_midi read well, and what a ``--free`` continuation can write tempi into.  Its
    Set Tempo events go, for SMPTE time has ignored them."""
    if prime.ticks_per_beat:
        return prime
    scale = TICKS_PER_STEP / ticks_per_step(prime)
    tracks = [
        Track(
            delta_rows(
                (round(at * scale), status, data, running)
                for at, status, data, running in timed_rows(track)
                if not (status == META and data[:1] == bytes((SET_TEMPO,)))
            )
        )
        for track in prime.tracks
    ]
    return Song(format=prime.format, division=OUTPUT_TPQ, tracks=tracks)


def _cut(prime: Song, last_step: int, cut_tick: int, whole: bool) -> tuple[list[Track], Sounding]:
    """The prime's tracks with what they play before the cut's tick, and up to its grid
    step ``last_step`` (each ending there, and without the meta events a reader would
    refuse), and the notes they hold over it.

    A note-off from the cut's tick on is left to ``_play``, which knows the new
    notes it must not end; the note-offs of held notes are the next ones of their
    key in their track, as a DAW pairs them.  With ``whole``, the meta events after
    the cut stay too (a marker, a lyric): its channel events would act on the new
    notes (a fade, all notes off)."""
    to_step = grid_step(prime)
    tracks, sounding = [], defaultdict(list)
    for index, track in enumerate(prime.tracks):
        rows, open_notes, struck = [], Counter(), {}  # (channel, key) -> count, last on tick
        timed = timed_rows(track)
        for row in timed:
            at, status, data, _ = row
            kind = status & 0xF0 if status < 0xF0 else 0
            key = (status & 0x0F, data[0]) if kind in (NOTE_ON, NOTE_OFF) else None
            ends = key is not None and not is_note_on(status, data)
            if ends and at >= cut_tick:
                if open_notes[key]:
                    open_notes[key] -= 1
                    sounding[key].append(_Held(struck[key], at, index, note_off=(status, data)))
            elif ends:  # before the cut
                rows.append(row)
                open_notes[key] = max(open_notes[key] - 1, 0)
            elif at < cut_tick or to_step(at) <= last_step or (whole and status == META):
                if is_end_of_track(row) or (status == META and is_broken_meta(data)):
                    continue
                rows.append(row)
                if key:
                    open_notes[key] += 1
                    struck[key] = at
        track_end = timed[-1][0] if timed else 0
        for key, count in open_notes.items():  # still open when the track ends: ends there
            sounding[key] += [_Held(struck[key], track_end, index) for _ in range(count)]
        rows.append((rows[-1][0] if rows else 0, META, END, False))
        tracks.append(Track(delta_rows(rows)))
    return tracks, sounding


def _placed(
    prime: Song,
    tracks: list[Track],
    notes: list[Note],
    tick: Callable[[int], int],
    sounding: Sounding,
) -> tuple[_Channels, FirstNotes]:
    """Put each new note in the part of its instrument that plays nearest its register
    (``_Channels.parts_for`` says which parts it may use); return the channels so taken
    and where each part's new notes begin."""
    channels = _Channels(prime)
    parts = channels.chosen
    first: FirstNotes = {}
    for note, top in zip(notes, top_notes(notes), strict=True):
        if note.instrument not in parts:
            parts[note.instrument] = channels.parts_for(note.instrument, tracks)
        choices = parts[note.instrument]
        part = choices[likeliest(choices, note.pitch, top)]
        on = tick(note.start)
        off = max(tick(note.start + note.length), on + 1)
        sounding[(part.channel, note.pitch)].append(_Held(on, off, part.track, note.velocity))
        at = first.get((part.track, part.channel), (note.instrument, on))
        first[(part.track, part.channel)] = (note.instrument, min(at[1], on))
    return channels, first


class _Channels:
    """The prime's parts and the channels it uses, and which channels new notes took."""

    def __init__(self, prime: Song) -> None:
        self.found = song_parts(prime.tracks)
        self.players: defaultdict[int, set[int]] = defaultdict(set)  # channel -> instruments
        for instrument, parts in self.found.items():
            for part in parts:
                self.players[part.channel].add(instrument)
        self.busy = channels_used(prime.tracks)  # any event, a controller's too
        self.claimed: dict[int, int] = {}  # channel -> the instrument whose new notes it plays
        self.chosen: dict[int, list[Part]] = {}  # instrument -> the parts its new notes take

    def pedalled(self, instrument: int) -> list[Part]:
        """The parts a new pedal event of ``instrument`` goes to: those its new notes take,
        or the prime's own, for the model may lift the prime's pedal and play on in
        another instrument."""
        return self.chosen.get(instrument) or self.found.get(instrument, [])

    def parts_for(self, instrument: int, tracks: list[Track]) -> list[Part]:
        """Where the new notes of ``instrument`` go, on channels no other instrument's new
        notes take (one channel plays one sound at a time): the prime's parts of it on
        channels it alone plays; else a new track on a channel the prime leaves free;
        else its busiest part on a channel it shares (a format 2 file's sequences may
        each use a channel for another instrument), leaving the others to other
        instruments; else a new track on any channel left (one the prime plays no notes
        on first), which the prime may use too."""
        claimed = self.claimed
        own = [
            p
            for p in self.found.get(instrument, ())
            if claimed.get(p.channel, instrument) == instrument
        ]
        alone = [part for part in own if self.players[part.channel] == {instrument}]
        taken = self.busy | set(claimed)
        if alone:
            chosen = alone
        elif set(MELODIC_CHANNELS) - taken or instrument == DRUMS:
            chosen = [new_part(tracks, instrument, taken)]
        elif own:
            chosen = [max(own, key=lambda part: len(part.pitches))]
        else:
            spare = [c for c in MELODIC_CHANNELS if c not in claimed] or [0]
            spare.sort(key=lambda channel: channel in self.players)  # no notes on it first
            chosen = [new_part(tracks, instrument, channel=spare[0])]
        for part in chosen:
            claimed[part.channel] = instrument
        return chosen


def _play(sounding: Sounding, added: defaultdict[int, list], same: int) -> None:
    """Add each key's new notes, and the note-offs of those held over the cut, to ``added``
    (track -> events).

    A key struck again ends the notes sounding on it, as the token decoder's
    restrike does: in the new note's track where it strikes, a tick before in
    another (players merge tracks at one tick in their order, and a note-off
    after the note-on would end the new note at once).  New notes struck
    together (within ``same`` ticks), or with a held one, are one: the held,
    or the longest.  Held notes end among themselves as the prime ends them."""
    for (channel, key), group in sounding.items():
        held_ons = [note.on for note in group if note.velocity is None]
        # held notes first, then the longest of new notes struck together
        group.sort(key=lambda note: (note.on, note.velocity is not None, note.on - note.off))
        playing: list[_Held] = []
        ringing: list[_Held] = []  # struck since the last new note
        for note in group:
            if note.velocity is not None:
                struck = [playing[-1].on] if playing else []
                if any(abs(note.on - on) < same for on in [*struck, *held_ons]):
                    continue
                for earlier in (n for n in ringing if n.off >= note.on):
                    moved = note.on if earlier.track == note.track else note.on - 1
                    earlier.off = max(moved, earlier.on + 1)
                ringing = []
            playing.append(note)
            ringing.append(note)
        for note in playing:
            events = added[note.track]
            if note.velocity is not None:
                events.append((note.on, NOTE_ON | channel, bytes((key, note.velocity))))
            status, data = note.note_off or (NOTE_OFF | channel, bytes((key, 0)))
            events.append((max(note.off, note.on + 1), status, data))


def _set_up_channels(tracks: list[Track], first: FirstNotes, added: defaultdict[int, list]) -> None:
    """Before its first new note, a channel gets the program of its instrument if the
    prime's cut left it another (a guitar whose program change came after the cut), and
    its pitch bend back at the centre if the prime left it bent."""
    last: dict[tuple[int, int], tuple[int, bytes]] = {}  # (kind, channel) -> (tick, data)
    for track in tracks:
        for at, status, data, _ in timed_rows(track):
            kind = status & 0xF0
            if status < 0xF0 and kind in (PROGRAM_CHANGE, PITCH_BEND):
                if at >= last.get((kind, status & 0x0F), (0, b""))[0]:
                    last[(kind, status & 0x0F)] = (at, data)
    for (index, channel), (instrument, on) in first.items():
        program = last.get((PROGRAM_CHANGE, channel), (0, b"\0"))[1][0]
        if instrument != DRUMS and program != instrument:
            added[index].append((on, PROGRAM_CHANGE | channel, bytes((instrument,))))
        if last.get((PITCH_BEND, channel), (0, BEND_CENTRE))[1] != BEND_CENTRE:
            added[index].append((on, PITCH_BEND | channel, BEND_CENTRE))


def _add_settings(
    prime: Song,
    before: Score,
    after: Score,
    channels: _Channels,
    tick: Callable[[int], int],
    added: defaultdict[int, list],
    meter_track: int,
) -> None:
    """Add the new pedal events to each channel of their instrument, once (in the track
    that carries the channel's pedal, or its first), and the new tempi (of a ``--free``
    continuation) to the first track and meters to ``meter_track``, where readers look."""
    pedalled = {
        (index, status & 0x0F)
        for index, track in enumerate(prime.tracks)
        for _, status, data, _ in track.rows
        if status < 0xF0 and status & 0xF0 == CONTROL_CHANGE and data[0] == SUSTAIN
    }
    for step, program, down in after.pedals[len(before.pedals) :]:
        pedals: dict[int, int] = {}  # channel -> track
        for part in channels.pedalled(program):
            if part.channel not in pedals or (part.track, part.channel) in pedalled:
                pedals[part.channel] = part.track
        for channel, index in pedals.items():
            value = bytes((SUSTAIN, 127 if down else 0))
            added[index].append((tick(step), CONTROL_CHANGE | channel, value))
    added[0] += [(tick(s), META, tempo_data(us)) for s, us in after.tempi[len(before.tempi) :]]
    added[meter_track] += [
        (tick(s), META, meter_data(n, d))
        for s, n, d in after.time_signatures[len(before.time_signatures) :]
    ]


def _notated(
    tracks: list[Track], key: Key, cut_tick: int, playing: set[int], added: defaultdict
) -> list[Track]:
    """The cut prime's tracks spelled in their own key (its key signature, or one for the
    key its notes hold most of), and from the cut in ``key``, where that differs: in the
    first track and in those new notes play in (``playing``), as ``with_key_signature``
    puts one.  A prime continued in another key had been notated in that key from its
    first bar, or the new music in the prime's."""
    kept = Song(tracks=tracks)
    if (opening := notated_key(kept)) is not None:
        kept = with_key_signature(kept, opening)
    signature = key_signature_data(key)
    in_force = [
        (at, data)
        for track in kept.tracks
        for at, status, data, _ in timed_rows(track)
        if status == META and data[0] == KEY_SIGNATURE and at <= cut_tick
    ]
    if not in_force or max(in_force, key=lambda event: event[0])[1] != signature:
        for index in {0, *playing}:
            added[index].append((cut_tick, META, signature))
    return kept.tracks


def _meter_track(prime: Song, tracks: list[Track]) -> int:
    """The track of the cut prime ``tracks`` (its broken metas left out by ``_cut``) whose
    time signatures rule them (``timing.ruling_conductor``: the first conducting track
    that has one), or the first."""
    return next(
        (
            index
            for index, track in enumerate(tracks)
            if conducts(prime, index)
            and any(
                status == META and data[0] == TIME_SIGNATURE for _, status, data, _ in track.rows
            )
        ),
        0,
    )


def _ended(tracks: list[Track], end: int, meter_track: int) -> list[Track]:
    """The tracks tidied up as every file midigen writes is: pedals let go at the end
    (tick ``end``), a tempo and a meter at the start where the prime set none (the
    meter in ``meter_track``), and the first track lasting the whole piece, so that a
    DAW shows its length."""
    tracks = _pedals_released(tracks, end)
    at_start = {
        data[0]
        for track in tracks
        for at, status, data, _ in timed_rows(track)
        if at == 0 and status == META
    }
    # Until a first tempo and meter, players take 120 bpm and 4/4 (SMF 1.0): say so
    if SET_TEMPO not in at_start:
        tracks[0] = with_meta_at_start(tracks[0], tempo_data(DEFAULT_TEMPO_US))
    if TIME_SIGNATURE not in at_start:
        tracks[meter_track] = with_meta_at_start(tracks[meter_track], meter_data(4, 4))
    timed = timed_rows(tracks[0])
    timed[-1] = (max(timed[-1][0], end), *timed[-1][1:])
    tracks[0] = Track(delta_rows(timed))
    return tracks


def _pedals_released(tracks: list[Track], end: int) -> list[Track]:
    """The tracks with every sustain pedal still down at the end let go there (or after the
    last event, if later): a DAW that loops the file would otherwise hold every note."""
    last = max([end, *map(track_length_ticks, tracks)])
    pedals = sorted(
        (at, index, status & 0x0F, data[1] >= PEDAL_DOWN)
        for index, track in enumerate(tracks)
        for at, status, data, _ in timed_rows(track)
        if status < 0xF0 and status & 0xF0 == CONTROL_CHANGE and data[0] == SUSTAIN
    )
    down: dict[int, int] = {}  # channel -> the track of its pedal, while it is down
    for _, index, channel, pressed in pedals:
        if pressed:
            down[channel] = index
        else:
            down.pop(channel, None)
    tracks = list(tracks)
    for channel, index in down.items():
        release = (last, CONTROL_CHANGE | channel, bytes((SUSTAIN, 0)))
        tracks[index] = with_events(tracks[index], [release])
    return tracks
