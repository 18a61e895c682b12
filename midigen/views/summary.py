"""Song -> summary: what `midigen info` shows, as a plain dict (JSON-ready)."""

from __future__ import annotations

from typing import Any

from ..errors import MidiError
from ..midi.gm import DRUM_CHANNEL, program_name
from ..midi.keys import signature_name
from ..midi.smf import DEFAULT_TEMPO_US, KEY_SIGNATURE, META, TIME_SIGNATURE
from ..midi.song import Song, Track, is_note_on
from ..midi.timing import (
    TempoMap,
    conducting_tracks,
    ruling_conductor,
    tempo_changes,
    track_length_ticks,
)


def summarize(song: Song) -> dict[str, Any]:
    """Format, division, tracks (and how many strike notes), events, notes, duration,
    tempi, meters, keys, instruments (the programs notes play, per channel), drums,
    warnings."""
    played = _played(song)
    notes = sum(played.values())
    used_channels = {channel for channel, _ in played}
    instruments = [
        {"channel": channel + 1, "program": program, "name": program_name(program, channel)}
        for channel, program in sorted(played)
    ]
    return {
        "format": song.format,
        "division": _division(song),
        "tracks": len(song.tracks),
        "tracks_with_notes": sum(
            any(is_note_on(status, data) for _, status, data, _ in track.rows)
            for track in song.tracks
        ),
        "events": sum(len(track) for track in song.tracks),
        "notes": notes,
        "duration_seconds": duration(song),
        "tempi_bpm": _tempi(song),
        "meters": _signatures(_meters(song)),
        "keys": _signatures([key for track in song.tracks for key in _metas(track, KEY_SIGNATURE)]),
        "instruments": instruments,
        "drums": DRUM_CHANNEL in used_channels,
        "warnings": [str(warning) for warning in song.warnings],
    }


def _played(song: Song) -> dict[tuple[int, int], int]:
    """Notes struck per (channel, program): each note plays the program its channel last
    changed to in its track (0 before any), as the tokens and pretty_midi read a file; a
    program set where no note plays it is no instrument of the song."""
    struck: dict[tuple[int, int], int] = {}
    for track in song.tracks:
        program = [0] * 16
        for _, status, data, _ in track.rows:
            if status < 0xF0 and status & 0xF0 == 0xC0:
                program[status & 0x0F] = data[0]
            elif is_note_on(status, data):
                part = (status & 0x0F, program[status & 0x0F])
                struck[part] = struck.get(part, 0) + 1
    return struck


def _division(song: Song) -> dict[str, int]:
    if song.smpte:
        fps, ticks_per_frame = song.smpte
        return {"smpte_fps": fps, "ticks_per_frame": ticks_per_frame}
    return {"ticks_per_quarter": song.division}


def duration(song: Song) -> float | None:
    """Seconds to the last End of Track (the longest sequence, in format 2); None if the
    tempo map cannot be read."""
    try:
        if song.format == 2:
            return max(
                (
                    TempoMap(song, [track]).seconds(track_length_ticks(track))
                    for track in song.tracks
                ),
                default=0.0,
            )
        ticks = max((track_length_ticks(track) for track in song.tracks), default=0)
        return TempoMap(song).seconds(ticks)
    except MidiError:
        return None


def _metas(track: Track, meta_type: int) -> list[tuple[int, bytes]]:
    """(tick, data) of the track's meta events of one type."""
    found, tick = [], 0
    for delta, status, data, _ in track.rows:
        tick += delta
        if status == META and data[:1] == bytes((meta_type,)):
            found.append((tick, data))
    return found


def _meters(song: Song) -> list[tuple[int, bytes]]:
    """(tick, data) of the time signatures the song plays to (``ruling_conductor``): a
    meter in another track counts nowhere, so it is not listed."""
    found = [_metas(track, TIME_SIGNATURE) for track in song.tracks]
    return [(tick, data) for tick, _, data in ruling_conductor(song, found)]


def longest_meter(song: Song) -> str | None:
    """The time signature ("3/8") the song plays longest to, None without one: what a DAW
    project needs, where the first may be a pickup's (Für Elise opens with a bar of
    1/8)."""
    meters = [(tick, name) for tick, data in _meters(song) for name in _signatures([(0, data)])]
    if not meters:
        return None
    end = max((track_length_ticks(track) for track in song.tracks), default=0)
    played: dict[str, int] = {}
    for (tick, name), (until, _) in zip(meters, [*meters[1:], (end, "")], strict=True):
        played[name] = played.get(name, 0) + max(until - tick, 0)
    return max(played, key=played.__getitem__)  # on a tie, the first


def _signatures(events: list[tuple[int, bytes]]) -> list[str]:
    """The distinct time signatures ("6/8") or key signatures ("D major") of (tick, meta
    data) events, in order of time; a malformed one (a denominator past 1/64, eight
    sharps) is left out."""
    found = []
    for tick, data in events:
        if data[0] == TIME_SIGNATURE and len(data) == 5 and data[2] <= 6:
            found.append((tick, f"{data[1]}/{2 ** data[2]}"))
        elif data[0] == KEY_SIGNATURE and len(data) == 3 and data[2] <= 1:
            sharps = data[1] - 256 if data[1] > 127 else data[1]
            if -7 <= sharps <= 7:
                found.append((tick, signature_name(sharps, bool(data[2]))))
    return list(dict.fromkeys(name for _, name in sorted(found, key=lambda row: row[0])))


def _tempi(song: Song) -> list[float]:
    """Distinct tempi in order of appearance, in beats per minute, of the tracks whose
    tempo rules (``conducts``: a format 2 file's first); the default tempo first where
    the first tempo event comes after the start, for players keep it until then."""
    changes = sorted(tempo_changes(conducting_tracks(song)))
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, DEFAULT_TEMPO_US))
    seen: list[float] = []
    for _, tempo_us in changes:
        bpm = round(60e6 / tempo_us, 2)
        if bpm not in seen:
            seen.append(bpm)
    return seen
