"""Song -> summary: what `midigen info` shows, as a plain dict (JSON-ready)."""

from __future__ import annotations

from typing import Any

from ..errors import MidiError
from ..midi.gm import DRUM_CHANNEL, program_name
from ..midi.keys import signature_name
from ..midi.smf import DEFAULT_TEMPO_US, KEY_SIGNATURE, META, TIME_SIGNATURE
from ..midi.song import Song, Track
from ..midi.timing import (
    TempoMap,
    conducting_tracks,
    ruling_conductor,
    tempo_changes,
    track_length_ticks,
)


def summarize(song: Song) -> dict[str, Any]:
    """Format, division, tracks, events, notes, duration, tempi, meters, keys,
    instruments, warnings."""
    notes = 0
    programs: dict[int, set[int]] = {}
    used_channels: set[int] = set()
    for track in song.tracks:
        for _, status, data, _ in track.rows:
            kind = status & 0xF0
            if kind == 0x90 and status < 0xF0 and data[1]:
                notes += 1
                used_channels.add(status & 0x0F)
            elif kind == 0xC0 and status < 0xF0:
                programs.setdefault(status & 0x0F, set()).add(data[0])
    instruments = []
    for channel in sorted(used_channels):
        for program in sorted(programs.get(channel, {0})):
            instruments.append(
                {"channel": channel + 1, "program": program, "name": program_name(program, channel)}
            )
    return {
        "format": song.format,
        "division": _division(song),
        "tracks": len(song.tracks),
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
