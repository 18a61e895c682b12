"""prime + sampled tokens -> the prime's own file up to where the model took over, then its music.

A continuation's tokens begin with the prime's, but tokens keep less than
the file: notes on a grid of 24 steps a beat, in 16 loudness bins, one
note where two tracks of one instrument play a key together, pedal, tempo
and meter.  So the prime is not decoded from them: the output is the prime
file itself, cut where its kept part ends.  Every event of every track
before the cut stays as it was (timing, velocities, controllers, pitch
bend, names, channels), and so do the notes it holds over the cut, to
their own ends.  The sampled notes, pedal and (``--free``) tempi and
meters follow in the prime's tracks, each note in the one that plays its
instrument in its register (parts.py), as an infill writes its span.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..midi.smf import END_OF_TRACK, META
from ..midi.song import Song, Track, delta_rows, timed_rows
from ..tokens.event import SUSTAIN, file_step, grid_step, meter_data, tempo_data, ticks_per_step
from ..tokens.grammar import BIN_MIDDLES, DRUMS, Note, Score, walk
from .parts import Part, is_note_on, likeliest, new_part, note_offs, song_parts, with_events

NOTE_ON, NOTE_OFF, CONTROL_CHANGE, PROGRAM_CHANGE, PITCH_BEND = 0x90, 0x80, 0xB0, 0xC0, 0xE0
BEND_CENTRE = bytes((0x00, 0x40))  # 8192: no bend
PEDAL_DOWN = 64  # a sustain value from this on holds (General MIDI)

# (track, channel) -> (instrument, tick of its first new note)
FirstNotes = dict[tuple[int, int], tuple[int, int]]
# (channel, key) -> the notes of that key after the cut
Sounding = defaultdict[tuple[int, int], list["_Held"]]


@dataclass
class _Held:
    """A note of one channel's key after the cut: a new one (with its velocity), or one
    the prime holds over the cut (None: its note-on stays where it is)."""

    on: int
    off: int
    track: int
    velocity: int | None


def continued(
    prime: Song,
    prompt: list[str],
    tokens: list[str],
    *,
    ring_steps: int = 0,
    velocities: tuple[int, ...] = BIN_MIDDLES,
    shortened: Sequence[tuple[int, int]] = (),
) -> Song:
    """The prime file up to the end of ``prompt`` (the tokens of it the model read), then
    what ``tokens`` (``prompt`` and what the model added) go on to play.

    ``ring_steps``: no note rings more than that many steps past the last time
    step, as in ``event_tokens_to_song``; ``velocities``: what each VEL bin
    plays; ``shortened``: the silences the prime's tokens shortened
    (``song_to_event_tokens``), whose steps the file still has.

    Raises:
        MidiError: the prime has no usable time base.
    """
    before, after = Score(), Score(velocities=velocities)
    cut = walk(prompt, before).step
    end = walk(tokens, after).step
    scale, silences = ticks_per_step(prime), list(shortened)

    def tick(step: int) -> int:
        return round(file_step(silences, step) * scale)

    # the prompt holds the events of its last step if it stopped after them, not in a rest
    settings = (*before.pedals, *before.tempi, *before.time_signatures)
    at_cut = any(n.start == cut for n in before.notes) or any(s[0] == cut for s in settings)
    tracks, sounding = _cut(prime, file_step(silences, cut if at_cut else cut - 1))
    for held in (note for group in sounding.values() for note in group):
        held.off = min(held.off, tick(end + ring_steps))  # it stops with the piece at the latest
    notes = after.notes[len(before.notes) :]
    for note in notes:
        note.length = min(note.length, max(end + ring_steps - note.start, 0))
    parts, first = _placed(prime, tracks, notes, tick, sounding)
    added: defaultdict[int, list[tuple[int, int, bytes]]] = defaultdict(list)
    _play(sounding, added, same=max(round(scale / 2), 1))
    _set_up_channels(tracks, first, added)
    _add_settings(prime, before, after, parts, tick, added)
    for index, events in added.items():
        tracks[index] = with_events(tracks[index], events)
    return Song(
        format=prime.format if prime.format != 0 or len(tracks) == 1 else 1,
        division=prime.division,
        tracks=_ended(tracks, tick(end)),
    )


def _cut(prime: Song, last_step: int) -> tuple[list[Track], Sounding]:
    """The prime's tracks with what they play up to its grid step ``last_step`` (each
    ending there), and the notes they hold over it, whose note-offs are left out."""
    to_step = grid_step(prime)
    tracks, sounding = [], defaultdict(list)
    for index, track in enumerate(prime.tracks):
        timed = timed_rows(track)
        kept = {k for k, row in enumerate(timed) if to_step(row[0]) <= last_step}
        ended = note_offs(timed)
        for off, ons in ended.items():  # a note-off after the cut of notes before it
            if to_step(timed[off][0]) > last_step and (held := [on for on in ons if on in kept]):
                _, status, data, _ = timed[off]
                # one note-off for each: a DAW pairs them in turn, as the prime did
                sounding[(status & 0x0F, data[0])] += [
                    _Held(timed[on][0], timed[off][0], index, None) for on in held
                ]
        closed = {on for ons in ended.values() for on in ons}
        track_end = timed[-1][0] if timed else 0
        for k in kept:  # a note still open when its track ends, ends there (as pretty_midi has it)
            at, status, data, _ = timed[k]
            if is_note_on(status, data) and k not in closed:
                sounding[(status & 0x0F, data[0])].append(_Held(at, track_end, index, None))
        rows = [timed[k] for k in sorted(kept) if timed[k][1] != META or timed[k][2][:1] != _END]
        rows.append((rows[-1][0] if rows else 0, META, _END, False))
        tracks.append(Track(delta_rows(rows)))
    return tracks, sounding


_END = bytes((END_OF_TRACK,))


def _placed(
    prime: Song,
    tracks: list[Track],
    notes: list[Note],
    tick: Callable[[int], int],
    sounding: Sounding,
) -> tuple[dict[int, list[Part]], FirstNotes]:
    """Put each new note in the part of the prime that plays its instrument in its register,
    or in a new track for an instrument the prime lacks; return the parts of each
    instrument and where each part's new notes begin.  A channel the prime plays two
    instruments on (a format 2 file's sequences may share one) takes neither, for one
    channel plays one sound at a time."""
    found = song_parts(prime.tracks)
    on_channel = defaultdict(set)
    for instrument, parts in found.items():
        for part in parts:
            on_channel[part.channel].add(instrument)
    taken = set(on_channel)
    parts = {
        instrument: [part for part in found_parts if len(on_channel[part.channel]) == 1]
        for instrument, found_parts in found.items()
    }
    first: FirstNotes = {}
    for note in notes:
        if not parts.get(note.instrument):
            parts[note.instrument] = [new_part(tracks, note.instrument, taken)]
        choices = parts[note.instrument]
        part = choices[likeliest(choices, note.pitch)]
        on = tick(note.start)
        off = max(tick(note.start + note.length), on + 1)
        sounding[(part.channel, note.pitch)].append(_Held(on, off, part.track, note.velocity))
        at = first.get((part.track, part.channel), (note.instrument, on))
        first[(part.track, part.channel)] = (note.instrument, min(at[1], on))
    return parts, first


def _play(sounding: Sounding, added: defaultdict[int, list], same: int) -> None:
    """Add each key's new notes, and the note-offs of those held over the cut, to ``added``
    (track -> events).  A key struck again ends the note it interrupts, as the token
    decoder's restrike does; a new note struck with one before it (within ``same`` ticks)
    is that note.  Notes held over the cut end as the prime ends them among themselves."""
    for (channel, key), group in sounding.items():
        group.sort(key=lambda note: (note.on, note.velocity is not None))  # held first
        playing: list[_Held] = []
        ringing: list[_Held] = []  # struck since the last new note
        for note in group:
            if note.velocity is not None:
                if playing and note.on - playing[-1].on < same:
                    continue
                for earlier in ringing:
                    earlier.off = min(earlier.off, note.on)
                ringing = []
            playing.append(note)
            ringing.append(note)
        for note in playing:
            if note.velocity is not None:
                added[note.track].append((note.on, NOTE_ON | channel, bytes((key, note.velocity))))
            added[note.track].append(
                (max(note.off, note.on + 1), NOTE_OFF | channel, bytes((key, 0)))
            )


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
    parts: dict[int, list[Part]],
    tick: Callable[[int], int],
    added: defaultdict[int, list],
) -> None:
    """Add the new pedal events to the parts of their instrument, and the new tempi and
    meters (of a ``--free`` continuation) to the first track, where players look."""
    for step, program, down in after.pedals[len(before.pedals) :]:
        for part in parts.get(program, ()):
            value = bytes((SUSTAIN, 127 if down else 0))
            added[part.track].append((tick(step), CONTROL_CHANGE | part.channel, value))
    if prime.ticks_per_beat:  # SMPTE time has no tempo or meter
        added[0] += [(tick(s), META, tempo_data(us)) for s, us in after.tempi[len(before.tempi) :]]
        added[0] += [
            (tick(s), META, meter_data(n, d))
            for s, n, d in after.time_signatures[len(before.time_signatures) :]
        ]


def _ended(tracks: list[Track], end: int) -> list[Track]:
    """The tracks tidied up at the end of the piece (tick ``end``): pedals let go, every
    note-on paired, and the first track lasting the piece's whole length, in a DAW too."""
    tracks = _every_note_on_paired(_pedals_released(tracks, end), end)
    tracks[0] = _lasting(tracks[0], end)
    return tracks


def _pedals_released(tracks: list[Track], end: int) -> list[Track]:
    """The tracks with every sustain pedal still down at the end let go there (or after the
    last event, if later): a DAW that loops the file would otherwise hold every note."""
    last = max([end, *(_last_tick(track) for track in tracks)])
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


def _every_note_on_paired(tracks: list[Track], end: int) -> list[Track]:
    """The tracks with a note-off at the very end (``end``, or after the last event) for
    every note-on of a key that has more of them than note-offs.  A prime may strike a
    key thrice, release it once, and after the cut give the other two note-offs that end
    nothing: those are gone, and a DAW pairs note-ons and note-offs in turn (players
    hear no difference: a note-off silences its key)."""
    last = max([end, *(_last_tick(track) for track in tracks)])
    unpaired: defaultdict[tuple[int, int], int] = defaultdict(int)  # (channel, key) -> count
    owner: dict[tuple[int, int], int] = {}  # the track of its last note-on
    for index, track in enumerate(tracks):
        for _, status, data, _ in track.rows:
            if status < 0xF0 and status & 0xF0 in (NOTE_ON, NOTE_OFF):
                key = (status & 0x0F, data[0])
                struck = is_note_on(status, data)
                unpaired[key] += 1 if struck else -1
                owner[key] = index if struck else owner.get(key, index)
    closing: defaultdict[int, list[tuple[int, int, bytes]]] = defaultdict(list)
    for (channel, key), count in unpaired.items():
        closing[owner[(channel, key)]] += [(last, NOTE_OFF | channel, bytes((key, 0)))] * count
    return [
        with_events(track, closing[index]) if index in closing else track
        for index, track in enumerate(tracks)
    ]


def _last_tick(track: Track) -> int:
    return sum(row[0] for row in track.rows)


def _lasting(track: Track, end: int) -> Track:
    """The track with its End of Track at ``end`` if that is later."""
    timed = timed_rows(track)
    timed[-1] = (max(timed[-1][0], end), *timed[-1][1:])
    return Track(delta_rows(timed))
